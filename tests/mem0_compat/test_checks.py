"""The system checks `migrate` runs first: a database that cannot serve long-term memory (unreachable, or
without pgvector 0.8 or newer) stops it with the reason in one line. (`make run` with an unreachable database:
tests/test_deployment.py.)"""

import pytest
from django.core.checks import run_checks

from mem0_compat.checks import pgvector_problem


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
