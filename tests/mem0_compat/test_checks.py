"""The system checks `migrate` runs first: a database that cannot serve long-term memory (unreachable, or
without pgvector 0.8 or newer) stops it with the reason in one line. (`make run` with an unreachable database:
tests/test_deployment.py.)"""

import pytest
from django.core.checks import run_checks

from mem0_compat.checks import pgvector_problem


@pytest.mark.parametrize(("embedder", "dimensions", "problem"), [
    ("nosuchprovider/model", 384, "EMBEDDER=nosuchprovider/model: unknown provider 'nosuchprovider'; mem0 knows "),
    ("ollama/nomic-embed-text", 768, "EMBEDDER=ollama/nomic-embed-text needs a package not installed: "),
    ("static", 384, "EMBEDDER=static makes 64-dimensional vectors but EMBEDDING_DIMENSIONS=384: "),
])
def test_an_embedder_the_settings_cannot_make_is_an_error(settings, embedder, dimensions, problem):
    """Else the service started, and every memory request of a database recording that embedder (a new one) was
    a 500 with a traceback."""
    settings.EMBEDDER, settings.EMBEDDING_DIMENSIONS, settings.EMBEDDER_BASE_URL = embedder, dimensions, None
    (error,) = [message for message in run_checks() if message.id == "mem0_compat.E003"]
    assert error.msg.startswith(f"Long-term memory cannot embed: {problem}")


def test_the_configured_embedder_passes():
    assert not [message for message in run_checks() if message.id == "mem0_compat.E003"]


def test_the_test_database_passes(db):
    assert not [message for message in run_checks(databases=["default"]) if message.id.startswith("mem0_compat.E")]


def test_without_the_database_asked_for_no_query_is_made(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        run_checks()


@pytest.mark.parametrize("versions, problem", [
    (None, "the PostgreSQL server has no pgvector extension (version 0.8 or newer is needed)"),
    (("0.7.4", None), "the database's pgvector is 0.7.4; 0.8 or newer is needed"),
    (("0.8.1", "0.7.0"), "the database's pgvector is 0.7.0; 0.8 or newer is needed"),  # installed before an upgrade
    (("0.8.0", None), None),
    (("0.8.1", "0.8.1"), None),
    (("0.10.0", "0.10.0"), None),
])
def test_pgvector_versions(versions, problem):
    assert pgvector_problem(versions) == problem
