"""Tenant isolation: another tenant's key gets 404 on every object of the first, on every route, and its
lists are empty. Nothing is changed by its attempts."""

import datarobot
import pytest
from datarobot.errors import ClientError
from datarobot.models.memory import MemorySpace, Session

from sessions_app.models import Event
from sessions_app.services import event_append_batch
from tests.factories import MemorySpaceFactory, make_session

VALID_EVENT = {"body": {"content": "x"}, "emitter": {"type": "user", "id": "u"}}


@pytest.fixture
def victim(space):
    session = make_session(space, description="secret", deduplication_key="dk")
    event_append_batch(session=session, events=[{**VALID_EVENT, "event_type": "message"}])
    space_url = f"/api/v2/memory/{space.id}/"
    session_url = f"{space_url}sessions/{session.id}/"
    return {"space": space, "session": session, "space_url": space_url, "session_url": session_url}


def routes(v):
    s, e = v["session_url"], v["session_url"] + "events/"
    return [
        ("get", v["space_url"], None),
        ("patch", v["space_url"], {"description": "pwned"}),
        ("delete", v["space_url"], None),
        ("get", v["space_url"] + "sessions/", None),
        ("post", v["space_url"] + "sessions/", {"participants": ["p"]}),
        ("get", s, None),
        ("patch", s, {"description": "pwned"}),
        ("delete", s, None),
        ("get", e, None),
        ("get", e + "?lastN=5", None),
        ("post", e, VALID_EVENT),
        ("post", e + "batch/", {"events": [VALID_EVENT]}),
        ("patch", e + "batch/", {"events": [{"sequenceId": 0, "body": {"content": "pwned"}}]}),
        ("patch", e + "0/", {"body": {"content": "pwned"}}),
        ("delete", e + "0/", None),
    ]


def test_every_route_is_404_for_another_tenant_and_changes_nothing(other_api, victim):
    for method, url, body in routes(victim):
        response = getattr(other_api, method)(url, body, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
        assert response["Content-Type"] == "application/json"
    victim["space"].refresh_from_db()
    victim["session"].refresh_from_db()
    assert victim["space"].deleted_at is None and victim["session"].deleted_at is None
    assert victim["session"].description == "secret" and victim["session"].event_count == 1
    assert Event.objects.get().body == {"content": "x"}


def test_every_route_answers_the_owner(api, victim):
    """The same matrix is not 404 for the owner, so the test above proves isolation, not broken routes."""
    for method, url, body in routes(victim):
        if method == "delete":
            continue
        response = getattr(api, method)(url, body, format="json")
        assert response.status_code in (200, 201), (method, url, response.status_code)


def test_lists_of_another_tenant_are_empty(other_api, victim):
    assert other_api.get("/api/v2/memory/").json()["items"] == []
    assert other_api.get("/api/v2/memory/", {"deduplicationKey": "dk"}).json()["total"] == 0


def test_a_session_is_reached_only_through_its_own_space(other_api, other_user, victim):
    """Every session route, through a space the caller does see (its own), with the victim's session id."""
    own_space = MemorySpaceFactory(owner=other_user)
    through_own = {**victim, "session_url": f"/api/v2/memory/{own_space.id}/sessions/{victim['session'].id}/"}
    session_routes = [route for route in routes(through_own) if route[1].startswith(through_own["session_url"])]
    assert len(session_routes) == 10
    for method, url, body in session_routes:
        response = getattr(other_api, method)(url, body, format="json")
        assert response.status_code == 404, (method, url, response.status_code)
        assert response.json() == {"detail": "Session not found"}
    victim["session"].refresh_from_db()
    assert (victim["session"].deleted_at, victim["session"].description) == (None, "secret")
    assert (victim["session"].event_count, victim["session"].version) == (1, 1)
    assert list(Event.objects.values_list("body", "deleted_at")) == [({"content": "x"}, None)]


def test_tenant_and_owner_come_from_the_key_not_the_body(api, user):
    response = api.post("/api/v2/memory/new/", {"description": "mine"}, format="json")
    assert response.json()["tenantId"] == str(user.tenant_id)
    assert response.json()["userId"] == str(user.pk)


def test_the_body_cannot_name_another_tenant_or_owner(api, other_api, other_user, victim):
    """Keys naming the tenant or the owner are unknown to the create and update bodies: 422, nothing written."""
    foreign = {"tenantId": str(victim["space"].tenant_id), "userId": str(victim["space"].owner_id)}
    response = other_api.post("/api/v2/memory/new/", {"description": "mine", **foreign}, format="json")
    assert response.status_code == 422
    assert {entry["loc"][-1] for entry in response.json()["detail"]} == {"tenantId", "userId"}
    own = other_api.post("/api/v2/memory/new/", {}, format="json").json()
    response = other_api.patch(f"/api/v2/memory/{own['memorySpaceId']}/", foreign, format="json")
    assert response.status_code == 422
    assert other_api.get(f"/api/v2/memory/{own['memorySpaceId']}/").json()["tenantId"] == str(other_user.tenant_id)
    assert [space["memorySpaceId"] for space in api.get("/api/v2/memory/").json()["items"]] == [str(victim["space"].id)]


def test_the_real_client_of_another_tenant_sees_nothing_and_collides_with_nothing(live_server, other_api_key,
                                                                                   user, victim):
    """The `datarobot` client with the other tenant's key: 404 on every object of the first, empty lists, and a
    deduplication key the first tenant uses is free for it (a 409 would name the first tenant's space)."""
    MemorySpaceFactory(owner=user, deduplication_key="shared-key")
    datarobot.Client(token=other_api_key, endpoint=f"{live_server.url}/api/v2")
    space_id, session_id = str(victim["space"].id), str(victim["session"].id)
    foreign_session = Session(id=session_id)._set_context(space_id)
    for call in (lambda: MemorySpace.get(space_id), lambda: Session.get(space_id, session_id),
                 lambda: Session.list(space_id), lambda: foreign_session.events(last_n=5),
                 lambda: foreign_session.post_event(body={"content": "pwned"}, emitter={"type": "user"}),
                 lambda: foreign_session.update_event(0, body={"content": "pwned"}),
                 lambda: foreign_session.delete()):
        with pytest.raises(ClientError) as hidden:
            call()
        assert hidden.value.status_code == 404
    assert MemorySpace.list() == []
    assert MemorySpace.list(deduplication_key="shared-key") == []
    assert MemorySpace.create(deduplication_key="shared-key").deduplication_key == "shared-key"
    victim["session"].refresh_from_db()
    assert (victim["session"].deleted_at, victim["session"].event_count) == (None, 1)
    assert list(Event.objects.values_list("body", flat=True)) == [{"content": "x"}]
