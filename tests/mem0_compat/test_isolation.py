"""Isolation of long-term memory: another tenant's key gets 404 on every mem0 route of a space it cannot
see; a space never reaches another space's memories, even in the same tenant; nothing changes."""

import pytest

from mem0_compat import services
from mem0_compat.models import Memory, MemoryHistory
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
