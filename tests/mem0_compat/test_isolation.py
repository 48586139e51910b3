"""Isolation of long-term memory: another tenant's key gets 404 on every mem0 route of a space it cannot
see; a space never reaches another space's memories, even in the same tenant; nothing changes."""

import pytest
from django.db.models import Q

from mem0_compat import services
from mem0_compat.models import AddRequest, Memory, MemoryFeedback, MemoryHistory
from tests.factories import MemorySpaceFactory

ADD = {"messages": [{"role": "user", "content": "pwned"}], "user_id": "alice", "infer": False}
SEARCH = {"query": "secret", "filters": {"user_id": "alice"}}


@pytest.fixture(autouse=True)
def no_llm(settings):
    settings.LLM_MODEL = None


@pytest.fixture
def secret(space):
    (result,) = services.memory_add(space=space, messages=[{"role": "user", "content": "The secret is 42"}],
                                    scope={"user_id": "alice"}, infer=False)
    return result["id"]


def routes(space, memory_id):
    root = f"/api/v2/memory/{space.id}/"
    return [
        ("get", root + "v1/ping/", None),
        ("post", root + "v1/memories/", ADD),
        ("get", root + "v1/memories/?user_id=alice", None),
        ("delete", root + "v1/memories/?user_id=alice", None),
        ("post", root + "v1/memories/search/", SEARCH),
        ("get", root + f"v1/memories/{memory_id}/", None),
        ("put", root + f"v1/memories/{memory_id}/", {"text": "pwned"}),
        ("delete", root + f"v1/memories/{memory_id}/", None),
        ("get", root + f"v1/memories/{memory_id}/history/", None),
        ("post", root + "v1/reset/", None),
        ("get", root + "v1/entities/", None),
        ("put", root + "v1/batch/", {"memories": [{"memory_id": memory_id, "text": "pwned"}]}),
        ("delete", root + "v1/batch/", {"memories": [{"memory_id": memory_id}]}),
        ("post", root + "v1/exports/", {"schema": {"properties": {"memory": {}}}, "filters": {"user_id": "alice"}}),
        ("post", root + "v1/exports/get/", {}),
        ("post", root + "v1/feedback/", {"memory_id": memory_id, "feedback": "NEGATIVE"}),
        ("get", root + "v1/event/00000000-0000-0000-0000-000000000000/", None),
        ("post", root + "v2/memories/", {"filters": {"user_id": "alice"}}),
        ("post", root + "v2/memories/search/", SEARCH),
        ("delete", root + "v2/entities/user/alice/", None),
        ("post", root + "v3/memories/add/", ADD),
        ("post", root + "v3/memories/", {"filters": {"user_id": "alice"}}),
        ("post", root + "v3/memories/search/", SEARCH),
        ("post", root + "memories", ADD),
        ("get", root + "memories?user_id=alice", None),
        ("delete", root + "memories?user_id=alice", None),
        ("get", root + f"memories/{memory_id}", None),
        ("put", root + f"memories/{memory_id}", {"text": "pwned"}),
        ("delete", root + f"memories/{memory_id}", None),
        ("get", root + f"memories/{memory_id}/history", None),
        ("post", root + "search", SEARCH),
        ("post", root + "configure", {"llm": {"config": {"model": "pwned"}}}),
        ("post", root + "reset", None),
    ]


def test_every_mem0_route_is_404_for_another_tenant_and_changes_nothing(other_api, space, secret):
    for method, url, body in routes(space, secret):
        response = getattr(other_api, method)(url, body, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
        assert response.json() == {"detail": "Memory space not found"}
    memory = Memory.objects.get(pk=secret)
    assert (memory.memory, memory.deleted_at) == ("The secret is 42", None)
    assert Memory.objects.count() == 1 and MemoryHistory.objects.count() == 1
    space.refresh_from_db()
    assert space.llm_model_name is None


def test_another_space_of_the_same_tenant_never_reaches_the_memory(api, user, secret):
    other = MemorySpaceFactory(owner=user)
    root = f"/api/v2/memory/{other.id}/"
    assert api.get(root + f"v1/memories/{secret}/").json() is None
    assert api.put(root + f"v1/memories/{secret}/", {"text": "x"}, format="json").status_code == 404
    assert api.delete(root + f"v1/memories/{secret}/").status_code == 404
    assert api.get(root + f"v1/memories/{secret}/history/").json() == []
    assert api.post(root + "v3/memories/search/", SEARCH, format="json").json()["results"] == []
    assert api.post(root + "v3/memories/", {"filters": {"user_id": "alice"}}, format="json").json()["count"] == 0
    assert api.get(root + "v1/entities/").json()["results"] == []
    assert api.put(root + "v1/batch/", {"memories": [{"memory_id": secret, "text": "x"}]},
                   format="json").status_code == 404
    assert api.post(root + "v1/feedback/", {"memory_id": secret}, format="json").status_code == 404
    assert Memory.objects.get(pk=secret).memory == "The secret is 42"


def test_memories_of_a_deleted_space_are_unreachable(api, space, secret):
    api.delete(f"/api/v2/memory/{space.id}/")
    response = api.get(f"/api/v2/memory/{space.id}/v1/memories/{secret}/")
    assert response.status_code == 404


def test_another_tenants_own_space_never_reaches_the_victims_objects(other_api, other_user, space, secret):
    """The routes that name an object by id (a memory, an export, a queued add, an entity), called through a
    space the caller does see, its own, with the victim's ids: nothing found, nothing changed."""
    export = services.export_create(space=space, schema={"properties": {"memory": {}}}, scope={"user_id": "alice"},
                                    filters=None, condition=Q())
    queued = AddRequest.objects.create(space=space, payload=ADD)
    root = f"/api/v2/memory/{MemorySpaceFactory(owner=other_user).id}/"
    no_memory, listed_none = (404, {"detail": "Memory not found"}), {"count": 0, "next": None, "previous": None}
    deleted_none = (200, {"message": "Memories deleted successfully! (0)"})
    reset_none = (200, {"message": "Memory space reset: 0 memories deleted."})
    answers = [
        (("get", f"v1/memories/{secret}/", None), (200, None)),
        (("put", f"v1/memories/{secret}/", {"text": "pwned"}), no_memory),
        (("delete", f"v1/memories/{secret}/", None), no_memory),
        (("get", f"v1/memories/{secret}/history/", None), (200, [])),
        (("put", "v1/batch/", {"memories": [{"memory_id": secret, "text": "pwned"}]}), no_memory),
        (("delete", "v1/batch/", {"memories": [{"memory_id": secret}]}), no_memory),
        (("post", "v1/feedback/", {"memory_id": secret, "feedback": "NEGATIVE"}), no_memory),
        (("post", "v1/exports/get/", {"memory_export_id": str(export.pk)}), (404, {"detail": "Export not found"})),
        (("post", "v1/exports/get/", {"user_id": "alice"}), (404, {"detail": "Export not found"})),
        (("get", f"v1/event/{queued.pk}/", None), (404, {"detail": "Event not found"})),
        (("delete", "v2/entities/user/alice/", None), (404, {"detail": "Entity not found"})),
        (("delete", "v1/memories/?user_id=alice", None), deleted_none),
        (("post", "v1/reset/", None), reset_none),
        (("get", "v1/entities/", None), (200, {**listed_none, "results": []})),
        (("post", "v1/memories/search/", SEARCH), (200, {"results": []})),
        (("post", "v2/memories/search/", SEARCH), (200, {"results": []})),
        (("post", "v3/memories/search/", SEARCH), (200, {"results": []})),
        (("post", "v2/memories/", {"filters": {"user_id": "alice"}}), (200, {**listed_none, "results": []})),
        (("post", "v3/memories/", {"filters": {"user_id": "alice"}}), (200, {**listed_none, "results": []})),
        (("get", "v1/memories/?user_id=alice", None), (200, {"results": []})),
        (("get", f"memories/{secret}", None), (200, None)),
        (("put", f"memories/{secret}", {"text": "pwned"}), no_memory),
        (("delete", f"memories/{secret}", None), no_memory),
        (("get", f"memories/{secret}/history", None), (200, [])),
        (("delete", "memories?user_id=alice", None), deleted_none),
        (("post", "search", SEARCH), (200, {"results": []})),
        (("post", "reset", None), reset_none),
    ]
    for (method, path, body), expected in answers:
        response = getattr(other_api, method)(root + path, body, format="json")
        assert (response.status_code, response.json()) == expected, (method, path)
    made = other_api.post(root + "v1/exports/", {"schema": {"properties": {"memory": {}}},
                                                 "filters": {"user_id": "alice"}}, format="json").json()
    got = other_api.post(root + "v1/exports/get/", {"memory_export_id": made["id"]}, format="json").json()
    assert (got["count"], got["memories"]) == (0, [])
    memory = Memory.objects.get(pk=secret)
    assert (memory.memory, memory.deleted_at) == ("The secret is 42", None)
    assert list(MemoryHistory.objects.values_list("event", flat=True)) == ["ADD"]
    assert not MemoryFeedback.objects.exists()
