import io
import threading
import time
from unittest import mock

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import override_settings

from config.api.errors import ServiceUnavailable
from mem0_compat import services
from mem0_compat.embeddings import EmbedderUnavailable, get_embedder
from mem0_compat.models import Memory
from mem0_compat.vector_column import column_dimensions, column_embedder


@pytest.mark.django_db(transaction=True)  # it rebuilds an index: not inside the test's own transaction
def test_reembed_rewrites_every_embedding_with_the_configured_embedder(space, capsys):
    services.memory_add(space=space, messages=[{"role": "user", "content": "Likes tea"}], scope={"user_id": "a"},
                        infer=False)
    Memory.objects.update(embedding=np.zeros(384).tolist())  # as if stored by another embedder
    call_command("reembed", "--dry-run")
    assert "would re-embed 1 memories" in capsys.readouterr().out
    assert not np.any(Memory.objects.get().embedding)
    call_command("reembed")
    assert "Re-embedded 1 memories" in capsys.readouterr().out
    expected = get_embedder().embed(["Likes tea"])[0]
    assert np.allclose(Memory.objects.get().embedding, expected, atol=1e-5)


@pytest.mark.django_db
@pytest.mark.parametrize("batch_size", ["0", "-1"])
def test_reembed_refuses_a_batch_size_below_one(recorded_embedder, batch_size, settings):
    from mem0_compat.vector_column import column_embedder

    settings.EMBEDDER = "minilm-int8"
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("reembed", "--batch-size", batch_size)
    assert column_embedder() == recorded_embedder  # not recorded as done


@pytest.mark.django_db(transaction=True)
def test_an_interrupted_reembed_is_never_taken_for_done(api, space, recorded_embedder, settings, capsys):
    for text in ("Likes tea", "Drives a bike"):
        services.memory_add(space=space, messages=[{"role": "user", "content": text}], scope={"user_id": "a"},
                            infer=False)
    original = settings.EMBEDDER
    settings.EMBEDDER = "minilm-int8"  # 384 dimensions too: no type check tells the vectors apart

    class DiesOnTheSecondBatch:
        batches = 0

        def embed(self, texts):
            DiesOnTheSecondBatch.batches += 1
            if DiesOnTheSecondBatch.batches == 2:
                raise KeyboardInterrupt  # the operator's Ctrl-C, or the pod is killed
            return [np.ones(384) for _ in texts]

    with mock.patch("mem0_compat.management.commands.reembed.get_embedder", return_value=DiesOnTheSecondBatch()):
        with pytest.raises(KeyboardInterrupt):
            call_command("reembed", "--batch-size", "1")
    assert sum(np.allclose(memory.embedding, 1) for memory in Memory.objects.all()) == 1  # a mix

    settings.EMBEDDER = original  # the operator goes back to the old embedder
    search = {"query": "tea", "filters": {"user_id": "a"}}
    response = api.post(f"/api/v2/memory/{space.pk}/v3/memories/search/", search, format="json")
    assert response.status_code == 503 and "re-embedded with EMBEDDER=minilm-int8" in response.json()["detail"]
    capsys.readouterr()
    call_command("reembed", "--if-changed")
    assert "Re-embedded 2 memories" in capsys.readouterr().out
    assert api.post(f"/api/v2/memory/{space.pk}/v3/memories/search/", search, format="json").status_code == 200
    assert not any(np.allclose(memory.embedding, 1) for memory in Memory.objects.all())


@pytest.mark.django_db(transaction=True)
def test_a_server_whose_embedder_matched_a_moment_ago_writes_no_vector_during_a_reembed(space, recorded_embedder,
                                                                                       settings):
    """A server trusts a match of its embedder for RECHECK_SECONDS. One that checked just before a reembed
    began, still configured with the old embedder, used to go on writing its vectors during the run: an add
    inserted behind the page cursor (a random id), an inferred UPDATE or a PUT of a memory whose page was
    done, each kept a vector of the old embedder for good. Each write now reads the column's record in its own
    transaction and is refused (the 503 of a mismatch), and after the run every vector is the new embedder's."""
    old = settings.EMBEDDER
    services.memory_add(space=space, messages=[{"role": "user", "content": "I live in Paris"}],
                        scope={"user_id": "a"})
    (tea,) = services.memory_add(space=space, messages=[{"role": "user", "content": "Likes tea"}],
                                 scope={"user_id": "a"}, infer=False)
    old_embedder = get_embedder()
    settings.EMBEDDER = "minilm-int8"
    refused = []

    def write_as_the_old_server():
        writes = {
            "add": lambda: services.memory_add(space=space, messages=[{"role": "user", "content": "Drives a bike"}],
                                               scope={"user_id": "a"}, infer=False),
            "inferred update": lambda: services.memory_add(
                space=space, messages=[{"role": "user", "content": "I live in Berlin"}], scope={"user_id": "a"}),
            "put": lambda: services.memory_update(space=space, memory_id=tea["id"], fields={"text": "Likes coffee"}),
        }
        with override_settings(EMBEDDER=old), mock.patch.object(services, "embedder_mismatch_now", return_value=None):
            for name, write in writes.items():
                try:
                    write()
                except ServiceUnavailable:
                    refused.append(name)

    class NewEmbedder:  # writes while it embeds the second of two pages: the first one is done
        batches = 0

        def embed(self, texts):
            NewEmbedder.batches += 1
            if NewEmbedder.batches == 2:
                write_as_the_old_server()
            return new_vectors(texts)

    def new_vectors(texts):
        return [-vector for vector in old_embedder.embed(texts)]

    with mock.patch("mem0_compat.management.commands.reembed.get_embedder", return_value=NewEmbedder()):
        call_command("reembed", "--batch-size", "1")
    memories = list(Memory.objects.all())
    for memory in memories:
        assert np.allclose(memory.embedding, new_vectors([memory.memory])[0], atol=1e-5), memory.memory
    assert refused == ["add", "inferred update", "put"]
    assert sorted(memory.memory for memory in memories) == ["Likes tea", "Lives in Paris"]


@pytest.mark.django_db(transaction=True)
def test_a_second_reembed_waits_for_the_one_running_then_finds_nothing_to_do(space, recorded_embedder, settings):
    """Two runs at once each recorded their own embedder at the end, over vectors partly the other's (and with
    the same embedder, the second did all the work again). A second run now waits for the first to finish."""
    for text in ("Likes tea", "Drives a bike"):
        services.memory_add(space=space, messages=[{"role": "user", "content": text}], scope={"user_id": "a"},
                            infer=False)
    settings.EMBEDDER = "minilm-int8"
    second_output = io.StringIO()

    def second_run():
        try:
            call_command("reembed", "--if-changed", stdout=second_output)
        finally:
            connection.close()

    second = threading.Thread(target=second_run)

    class FirstRunsEmbedder:  # the second run starts while the first embeds its first page
        batches = 0

        def embed(self, texts):
            FirstRunsEmbedder.batches += 1
            if FirstRunsEmbedder.batches == 1:
                second.start()
                deadline = time.monotonic() + 30
                while "waiting" not in second_output.getvalue():
                    assert second.is_alive() and time.monotonic() < deadline, second_output.getvalue()
                    time.sleep(0.05)
            return [np.ones(384) for _ in texts]

    with mock.patch("mem0_compat.management.commands.reembed.get_embedder", return_value=FirstRunsEmbedder()):
        call_command("reembed", "--batch-size", "1", stdout=io.StringIO())
        second.join(timeout=30)
    assert second_output.getvalue().splitlines() == [
        "Another `manage.py reembed` is running on this database: waiting for it to finish.",
        "The stored vectors are already minilm-int8's: nothing to do."]
    assert FirstRunsEmbedder.batches == 2
    assert all(np.allclose(memory.embedding, 1) for memory in Memory.objects.all())
    assert column_embedder() == "minilm-int8"


def test_reembed_with_an_embedder_it_cannot_build_says_why_and_changes_nothing(space, recorded_embedder, settings):
    """An EMBEDDER that cannot be built (no key for the provider) is a one-line CommandError before anything
    changes, not a traceback."""
    services.memory_add(space=space, messages=[{"role": "user", "content": "Likes tea"}], scope={"user_id": "a"},
                        infer=False)
    original = settings.EMBEDDER
    settings.EMBEDDER, settings.EMBEDDING_DIMENSIONS = "openai/text-embedding-3-small", 1536
    settings.EMBEDDER_BASE_URL = settings.EMBEDDER_API_KEY = None
    with pytest.raises(CommandError, match="needs EMBEDDER_API_KEY"):
        call_command("reembed")
    assert (column_embedder(), column_dimensions()) == (original, 384)


@pytest.mark.django_db(transaction=True)  # it rebuilds an index: not inside the test's own transaction
def test_reembed_whose_embedder_fails_half_way_says_so_in_a_line(space, recorded_embedder, settings):
    for text in ("Likes tea", "Drives a bike"):
        services.memory_add(space=space, messages=[{"role": "user", "content": text}], scope={"user_id": "a"},
                            infer=False)
    settings.EMBEDDER = "minilm-int8"

    class UnreachableOnTheSecondBatch:
        batches = 0

        def embed(self, texts):
            UnreachableOnTheSecondBatch.batches += 1
            if UnreachableOnTheSecondBatch.batches == 2:
                raise EmbedderUnavailable("minilm-int8: connection refused")
            return [np.ones(384) for _ in texts]

    with mock.patch("mem0_compat.management.commands.reembed.get_embedder",
                    return_value=UnreachableOnTheSecondBatch()):
        with pytest.raises(CommandError, match="connection refused.*after 1 of 2 memories.*run it again"):
            call_command("reembed", "--batch-size", "1")
