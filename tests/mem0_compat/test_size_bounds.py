"""A memory's metadata is bounded by METADATA_MAX_BYTES (64 KiB as compact UTF-8 JSON text) on every route that
writes it (add on each generation's route, async or not; update; batch update) and in the admin. At the bound
it is stored; past it, a 422 naming the field and the bound, and nothing is written (a batch entirely or not at
all). Before, one memory's metadata could take most of the 100 MB request limit, carried by every read and
search of it, and enough to fail a whole export at its 64 MB cap."""

import json

import pytest
from django.urls import reverse

from mem0_compat.models import AddRequest, Memory, MemoryHistory, MemoryInput
from mem0_compat.services import memory_add
from tests.admin_forms import change_form_data
from tests.factories import json_object_of
from tests.openapi_conformance import served_schema

METADATA_MAX = 64 * 1024
ADD_ROUTES = ["v1/memories/", "v3/memories/add/", "memories"]


@pytest.fixture(autouse=True)
def offline(settings):
    settings.LLM_MODEL = None
    settings.METADATA_MAX_BYTES = METADATA_MAX  # the default, whatever the environment of the run says


def base(space):
    return f"/api/v2/memory/{space.id}/"


def add_body(metadata, **fields):
    return {"messages": [{"role": "user", "content": "Likes tea"}], "user_id": "alice", "infer": False,
            "metadata": metadata, **fields}


def stored(space, text="Likes tea") -> Memory:
    memory, = memory_add(space=space, messages=[{"role": "user", "content": text}], scope={"user_id": "alice"},
                         infer=False, metadata={"a": 1})
    return Memory.objects.get(pk=memory["id"])


def assert_refused(response, loc: list):
    assert response.status_code == 422, response.content
    entry, = response.json()["detail"]
    assert entry["loc"] == loc and entry["type"] == "too_long"
    assert f"metadata may take at most {METADATA_MAX} bytes" in entry["msg"]


def assert_unchanged(memory: Memory):
    memory.refresh_from_db()
    assert memory.metadata == {"a": 1}
    assert list(MemoryHistory.objects.filter(memory_id=memory.pk).values_list("event", flat=True)) == ["ADD"]


@pytest.mark.parametrize("route", ADD_ROUTES)
def test_add_takes_metadata_at_the_bound_and_refuses_one_byte_more(api, space, route):
    response = api.post(base(space) + route, add_body(json_object_of(METADATA_MAX + 1)), format="json")
    assert_refused(response, ["body", "metadata"])
    assert not Memory.objects.exists() and not MemoryInput.objects.exists()
    response = api.post(base(space) + route, add_body(json_object_of(METADATA_MAX)), format="json")
    assert response.status_code == 200, response.content
    assert Memory.objects.get().metadata == json_object_of(METADATA_MAX)


def test_an_async_add_over_the_bound_is_refused_before_it_is_queued(api, space):
    response = api.post(base(space) + "v1/memories/", add_body(json_object_of(METADATA_MAX + 1), async_mode=True),
                        format="json")
    assert_refused(response, ["body", "metadata"])
    assert not AddRequest.objects.exists()


@pytest.mark.parametrize("route", ["v1/memories/{id}/", "memories/{id}"])
def test_update_over_the_bound_changes_nothing(api, space, route):
    memory = stored(space)
    url = base(space) + route.format(id=memory.pk)
    assert_refused(api.put(url, {"metadata": json_object_of(METADATA_MAX + 1)}, format="json"), ["body", "metadata"])
    assert_unchanged(memory)
    response = api.put(url, {"metadata": json_object_of(METADATA_MAX)}, format="json")
    assert response.status_code == 200 and response.json()["metadata"] == json_object_of(METADATA_MAX)


@pytest.mark.parametrize("route", ["v1/batch/", "v1/memories/batch/"])
def test_a_batch_update_with_one_metadata_over_the_bound_changes_no_memory(api, space, route):
    first, second = stored(space), stored(space, "Owns a bike")
    updates = [{"memory_id": str(first.pk), "text": "Likes green tea"},
               {"memory_id": str(second.pk), "metadata": json_object_of(METADATA_MAX + 1)}]
    response = api.put(base(space) + route, {"memories": updates}, format="json")
    assert_refused(response, ["body", "memories", 1, "metadata"])
    first.refresh_from_db()
    assert first.memory == "Likes tea"
    assert_unchanged(first)
    assert_unchanged(second)
    updates[1]["metadata"] = json_object_of(METADATA_MAX)
    assert api.put(base(space) + route, {"memories": updates}, format="json").status_code == 200
    second.refresh_from_db()
    assert second.metadata == json_object_of(METADATA_MAX)


def test_the_document_tells_the_bound():
    schemas = served_schema()["components"]["schemas"]
    for name in ("AddInRequest", "UpdateInRequest", "BatchUpdateItemInRequest"):
        assert f"At most {METADATA_MAX} bytes" in schemas[name]["properties"]["metadata"]["description"]


def test_the_admin_holds_memory_metadata_to_the_same_bound(admin_client, space):
    memory = stored(space)
    url = reverse("admin:mem0_compat_memory_change", args=[memory.pk])
    over = {**change_form_data(admin_client, url), "metadata": json.dumps(json_object_of(METADATA_MAX + 1))}
    response = admin_client.post(url, over)
    assert response.status_code == 200 and f"at most {METADATA_MAX} bytes" in response.content.decode()
    assert_unchanged(memory)
    at_bound = {**change_form_data(admin_client, url), "metadata": json.dumps(json_object_of(METADATA_MAX))}
    assert admin_client.post(url, at_bound).status_code == 302
    memory.refresh_from_db()
    assert memory.metadata == json_object_of(METADATA_MAX)
