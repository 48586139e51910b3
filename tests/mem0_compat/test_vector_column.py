"""The embedding column records the embedder that made its vectors. A server configured with another one
(another dimension, or the same dimension with other vectors, as minilm and minilm-int8) writes and searches
nothing: memory requests answer 503 and say to run `reembed`, which re-embeds and records the new embedder."""

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.db import OperationalError, connection
from django.urls import reverse

from mem0_compat import vector_column
from mem0_compat.models import Memory
from mem0_compat.vector_column import column_embedder, record_embedder


@pytest.fixture(autouse=True)
def no_llm(settings):
    settings.LLM_MODEL = None


def base(space):
    return f"/api/v2/memory/{space.id}/"


def add(api, space, text):
    body = {"messages": [{"role": "user", "content": text}], "user_id": "alice", "infer": False}
    return api.post(base(space) + "v3/memories/add/", body, format="json")


def search(api, space, query):
    return api.post(base(space) + "v3/memories/search/", {"query": query, "filters": {"user_id": "alice"}},
                    format="json")


def test_migrate_recorded_the_configured_embedder(db, settings):
    assert column_embedder() == settings.EMBEDDER
    assert vector_column.embedder_mismatch() is None


def test_the_record_is_read_back_as_written_quotes_included(recorded_embedder):
    record_embedder("openai/it's-a-model")
    assert column_embedder() == "openai/it's-a-model"


@pytest.mark.django_db(transaction=True)  # reembed rebuilds an index: not inside the test's own transaction
def test_another_embedder_of_the_same_dimension_is_refused_until_reembed(api, space, settings, recorded_embedder):
    assert add(api, space, "I deploy on Fridays using ArgoCD").status_code == 200
    settings.EMBEDDER = "minilm-int8"  # 384 dimensions too: no type check would notice

    for response in (add(api, space, "I drink green tea"), search(api, space, "when do we deploy")):
        assert response.status_code == 503
        detail = response.json()["detail"]
        assert f"made by EMBEDDER={recorded_embedder}" in detail and "EMBEDDER=minilm-int8" in detail
        assert "manage.py reembed" in detail
    assert Memory.objects.count() == 1  # nothing written

    call_command("reembed")
    assert column_embedder() == "minilm-int8"
    assert add(api, space, "I drink green tea").status_code == 200
    hits = search(api, space, "when do we deploy").json()["results"]
    assert hits[0]["memory"] == "I deploy on Fridays using ArgoCD"


def test_another_dimension_is_a_503_not_a_database_error(api, space, settings):
    settings.EMBEDDER, settings.EMBEDDING_DIMENSIONS = "static", 64
    response = add(api, space, "I drink green tea")
    assert response.status_code == 503
    assert "holds 384-dimensional vectors" in response.json()["detail"]
    assert not Memory.objects.exists()


def test_a_process_trusts_a_match_for_a_while_and_rechecks_a_mismatch_every_time(db, settings,
                                                                                django_assert_num_queries):
    vector_column._matching.clear()
    with django_assert_num_queries(1):
        assert vector_column.embedder_mismatch_now() is None
        assert vector_column.embedder_mismatch_now() is None
    settings.EMBEDDER = "minilm-int8"
    with django_assert_num_queries(2):
        assert vector_column.embedder_mismatch_now() is not None
        assert vector_column.embedder_mismatch_now() is not None


@pytest.mark.django_db(transaction=True)
def test_the_record_changes_only_once_the_writes_of_vectors_in_flight_have_committed(recorded_embedder):
    """A write reads the record in its transaction, then writes its vectors: a `reembed` whose record of its
    start committed in between would page past them (COMMENT takes a lock no writer conflicts with). The record
    now changes under a lock that the writer's holds off until it commits."""
    writer = connection.copy()
    writer.set_autocommit(False)
    try:
        assert vector_column.vector_write_mismatch(writer) is None  # a transaction writing vectors, in flight
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '100ms'")  # a refusal instead of a wait: the writer is this thread
        with pytest.raises(OperationalError, match="lock timeout"):
            vector_column.record_reembedding("minilm-int8")
        assert column_embedder() == recorded_embedder
        writer.commit()
        vector_column.record_reembedding("minilm-int8")
    finally:
        writer.close()
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
    assert column_embedder() == "re-embedding to minilm-int8"


def test_system_check_warns_on_migrate_and_check_database(db, settings):
    assert not [m for m in run_checks(databases=["default"]) if m.id == "mem0_compat.W001"]
    settings.EMBEDDER = "minilm-int8"
    warnings = [m for m in run_checks(databases=["default"]) if m.id == "mem0_compat.W001"]
    assert len(warnings) == 1 and "reembed" in warnings[0].hint
    assert not [m for m in run_checks() if m.id == "mem0_compat.W001"]  # without --database: no query


def test_admin_search_says_why_it_cannot_search(admin_client, api, space, settings):
    assert add(api, space, "I deploy on Fridays using ArgoCD").status_code == 200
    settings.EMBEDDER = "minilm-int8"
    response = admin_client.get(reverse("admin:mem0_compat_memory_changelist"), {"q": "deploy Fridays"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "Search failed" in page and "manage.py reembed" in page


@pytest.mark.django_db(transaction=True)
def test_reembed_if_changed_leaves_matching_vectors_alone(api, space, settings, recorded_embedder, capsys):
    assert add(api, space, "I drink green tea").status_code == 200
    Memory.objects.update(embedding=[0.0] * settings.EMBEDDING_DIMENSIONS)  # would be rewritten by a reembed
    call_command("reembed", "--if-changed")
    assert "nothing to do" in capsys.readouterr().out
    assert not any(Memory.objects.get().embedding)

    settings.EMBEDDER = "minilm-int8"
    call_command("reembed", "--if-changed")
    assert "Re-embedded 1 memories with minilm-int8" in capsys.readouterr().out
    assert any(Memory.objects.get().embedding) and column_embedder() == "minilm-int8"
