"""Sessions: the real `datarobot` client against a live server, and raw HTTP for status codes and errors."""

import json
import re

import pytest
from datarobot.errors import ClientError, MemorySessionDeduplicationError
from datarobot.models.memory import Session

from sessions_app.models import LifecycleStrategy
from tests.factories import MemorySpaceFactory, make_session, post_at_once
from tests.openapi_conformance import served_schema

PARTICIPANT = "67500a000000000000000001"


def sessions_url(space, session=None):
    return f"/api/v2/memory/{space.id}/sessions/" + (f"{session.id}/" if session else "")


def test_client_creates_a_session_with_the_default_strategy(dr, space):
    session = Session.create(memory_space_id=str(space.id), participants=[PARTICIPANT],
                             description="Triage chat #42", metadata={"priority": "high", "tags": ["a"]})
    assert session.participants == [PARTICIPANT]
    assert session.version == 1
    assert session.lifecycle_strategies == [{"type": "soft_delete", "trigger": {"ttl": 15552000}}]
    fetched = Session.get(str(space.id), session.id)
    assert fetched.metadata == {"priority": "high", "tags": ["a"]}
    assert fetched.description == "Triage chat #42"


def test_a_created_session_answers_the_creation_time_it_stored(api, space):
    """The database stamps it (the clock the lifecycle sweep reads): the answer to the create carries it."""
    from django.utils.dateparse import parse_datetime

    from sessions_app.models import Session as SessionRow

    response = api.post(sessions_url(space), {"participants": [PARTICIPANT]}, format="json")
    assert response.status_code == 201, response.content
    answered = response.json()
    assert parse_datetime(answered["createdAt"]) == SessionRow.objects.get(pk=answered["id"]).created_at
    assert api.get(sessions_url(space) + f"{answered['id']}/").json()["createdAt"] == answered["createdAt"]


def test_client_round_trips_every_strategy_shape(dr, space):
    strategies = [
        {"type": "extract_memories", "trigger": {"eventCount": 100},
         "opts": {"softDelete": False, "agentId": "support-bot"}},
        {"type": "extract_memories", "trigger": {"idle": 3600}, "opts": {"userId": "alice", "runId": "r1"}},
        {"type": "soft_delete", "trigger": {"tokenCount": 50000}},
        {"type": "soft_delete", "trigger": {"ttl": 2592000}},
        {"type": "soft_delete", "trigger": {"never": True}},
    ]
    session = Session.create(memory_space_id=str(space.id), participants=[PARTICIPANT],
                             lifecycle_strategies=strategies)
    # The client snake-cases what it reads, so look at the wire through its raw HTTP session.
    raw = dr.client.get_client().get(f"memory/{space.id}/sessions/{session.id}/").json()
    assert [(s["type"], s["trigger"], s["opts"]) for s in raw["lifecycleStrategies"]] == [
        (s["type"], s["trigger"], s.get("opts")) for s in strategies]
    assert len(Session.get(str(space.id), session.id).lifecycle_strategies) == 5
    rows = LifecycleStrategy.objects.filter(session_id=session.id).order_by("position")
    assert [(r.trigger, r.threshold) for r in rows] == [
        ("eventCount", 100), ("idle", 3600), ("tokenCount", 50000), ("ttl", 2592000), ("never", None)]


def test_client_lists_with_participant_and_description_filters(dr, space):
    a = Session.create(memory_space_id=str(space.id), participants=["p-a"], description="alpha")
    b = Session.create(memory_space_id=str(space.id), participants=["p-b"], description="beta")
    Session.create(memory_space_id=str(space.id), participants=["p-c"], description="gamma")
    assert {s.id for s in Session.list(str(space.id), participants=["p-a", "p-b"])} == {a.id, b.id}
    assert [s.id for s in Session.list(str(space.id), description="beta")] == [b.id]
    assert len(Session.list(str(space.id), offset=1, limit=1)) == 1


def test_client_updates_with_if_match_and_gets_409_when_stale(dr, space):
    session = Session.create(memory_space_id=str(space.id), participants=[PARTICIPANT])
    stale = Session.get(str(space.id), session.id)
    session.update(description="first", metadata={"k": 1})
    assert session.version == 2 and session.description == "first"

    with pytest.raises(ClientError) as conflict:
        stale.update(description="second")  # still at version 1
    assert conflict.value.status_code == 409
    assert Session.get(str(space.id), session.id).description == "first"

    session.update(lifecycle_strategies=[{"type": "soft_delete", "trigger": {"idle": 60}}])
    fetched = Session.get(str(space.id), session.id)
    assert fetched.lifecycle_strategies == [{"type": "soft_delete", "trigger": {"idle": 60}}]
    assert fetched.version == 3
    stale.update(description="forced", if_match=None)  # opting out of the precondition
    assert Session.get(str(space.id), session.id).description == "forced"


def test_client_deletes_a_session_softly(dr, space):
    session = Session.create(memory_space_id=str(space.id), participants=[PARTICIPANT])
    session.delete()
    with pytest.raises(ClientError) as missing:
        Session.get(str(space.id), session.id)
    assert missing.value.status_code == 404
    assert Session.list(str(space.id)) == []
    with pytest.raises(ClientError):
        session.delete()


def test_client_sees_session_deduplication_conflict(dr, space):
    first = Session.create(memory_space_id=str(space.id), participants=[PARTICIPANT], deduplication_key="chat-1")
    with pytest.raises(MemorySessionDeduplicationError) as conflict:
        Session.create(memory_space_id=str(space.id), participants=[PARTICIPANT], deduplication_key="chat-1")
    assert conflict.value.existing_session_id == first.id
    assert conflict.value.existing_session_url == f"/memory/{space.id}/sessions/{first.id}/"


def test_if_match_accepts_quoted_and_bare_versions(api, space):
    session = make_session(space)
    assert api.patch(sessions_url(space, session), {"description": "a"}, format="json",
                     HTTP_IF_MATCH='"1"').json()["version"] == 2
    assert api.patch(sessions_url(space, session), {"description": "b"}, format="json",
                     HTTP_IF_MATCH="2").json()["version"] == 3
    assert api.patch(sessions_url(space, session), {"description": "c"}, format="json",
                     HTTP_IF_MATCH="2").status_code == 409
    assert api.patch(sessions_url(space, session), {"description": "c"}, format="json",
                     HTTP_IF_MATCH="abc").status_code == 422


@pytest.mark.parametrize("if_match", ["9" * 20, '"' + "1" * 5000 + '"'])  # 5,000 digits: int() refuses, was a 500
def test_an_if_match_longer_than_any_version_is_422(api, space, if_match):
    session = make_session(space)
    response = api.patch(sessions_url(space, session), {"description": "a"}, format="json", HTTP_IF_MATCH=if_match)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["header", "If-Match"]
    session.refresh_from_db()
    assert (session.version, session.description) == (1, None)
    (documented,) = [p for p in served_schema()["paths"]["/api/v2/memory/{space_id}/sessions/{session_id}/"]["patch"]
                     ["parameters"] if p["name"] == "If-Match"]
    assert not re.match(documented["schema"]["pattern"], if_match)


def test_patch_changes_only_the_fields_present(api, space):
    session = make_session(space, description="keep", metadata={"a": 1})
    body = api.patch(sessions_url(space, session), {"metadata": None}, format="json").json()
    assert body["description"] == "keep" and body["metadata"] is None


def test_session_in_a_deleted_space_is_404(api, space):
    session = make_session(space)
    api.delete(f"/api/v2/memory/{space.id}/")
    response = api.get(sessions_url(space, session))
    assert response.status_code == 404
    assert response.json() == {"detail": "Memory space not found"}


STRATEGY = {"type": "soft_delete", "trigger": {"ttl": 60}}


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"participants": []}, ["body", "participants"]),
        ({"participants": ["a", "b"]}, ["body", "participants"]),
        ({"participants": "a"}, ["body", "participants"]),
        ({"participants": [1]}, ["body", "participants", 0]),
        ({}, ["body", "participants"]),
        ({"participants": ["a"], "lifecycleStrategies": [STRATEGY] * 6}, ["body", "lifecycleStrategies"]),
        ({"participants": ["a"], "lifecycleStrategies": [{"type": "archive", "trigger": {"ttl": 1}}]},
         ["body", "lifecycleStrategies", 0, "type"]),
        ({"participants": ["a"], "lifecycleStrategies": [{"type": "soft_delete", "trigger": {"ttl": 0}}]},
         ["body", "lifecycleStrategies", 0, "trigger", "ttl"]),
        ({"participants": ["a"], "lifecycleStrategies": [{"type": "soft_delete", "trigger": {"ttl": 63072001}}]},
         ["body", "lifecycleStrategies", 0, "trigger", "ttl"]),
        ({"participants": ["a"], "lifecycleStrategies": [{"type": "soft_delete",
                                                          "trigger": {"eventCount": 1000001}}]},
         ["body", "lifecycleStrategies", 0, "trigger", "eventCount"]),
        ({"participants": ["a"], "lifecycleStrategies": [{"type": "soft_delete",
                                                          "trigger": {"tokenCount": 100000001}}]},
         ["body", "lifecycleStrategies", 0, "trigger", "tokenCount"]),
        ({"participants": ["a"], "lifecycleStrategies": [{"type": "soft_delete",
                                                          "trigger": {"ttl": 5, "idle": 5}}]},
         ["body", "lifecycleStrategies", 0, "trigger"]),
        ({"participants": ["a"], "lifecycleStrategies": [{"type": "soft_delete", "trigger": {}}]},
         ["body", "lifecycleStrategies", 0, "trigger"]),
        ({"participants": ["a"], "lifecycleStrategies": [{"type": "soft_delete", "trigger": {"never": False}}]},
         ["body", "lifecycleStrategies", 0, "trigger", "never"]),
        ({"participants": ["a"], "lifecycleStrategies": [{"type": "soft_delete", "trigger": {"weeks": 2}}]},
         ["body", "lifecycleStrategies", 0, "trigger", "weeks"]),
        ({"participants": ["a"], "lifecycleStrategies": [{"type": "extract_memories", "trigger": {"ttl": 5},
                                                          "opts": {"userId": ""}}]},
         ["body", "lifecycleStrategies", 0, "opts", "userId"]),
        ({"participants": ["a"], "lifecycleStrategies": [{"type": "extract_memories", "trigger": {"ttl": 5},
                                                          "opts": {"softDelete": "maybe"}}]},
         ["body", "lifecycleStrategies", 0, "opts", "softDelete"]),
        ({"participants": ["a"], "lifecycleStrategies": [{"type": "extract_memories", "trigger": {"ttl": 5},
                                                          "opts": {"appId": "a" * 65}}]},
         ["body", "lifecycleStrategies", 0, "opts", "appId"]),
        ({"participants": ["a"], "lifecycleStrategies": [{"type": "extract_memories", "trigger": {"ttl": 5},
                                                          "opts": {"appId": 5}}]},
         ["body", "lifecycleStrategies", 0, "opts", "appId"]),
        # the participant is the memories' user_id unless opts name one, and a user_id is 1..64 characters
        ({"participants": ["p" * 65], "lifecycleStrategies": [STRATEGY, {"type": "extract_memories",
                                                                         "trigger": {"ttl": 5}}]},
         ["body", "lifecycleStrategies", 1, "opts", "userId"]),
        # userId and runId given as null file the memories under no user or run: then an agentId must scope them
        ({"participants": ["a"], "lifecycleStrategies": [{"type": "extract_memories", "trigger": {"ttl": 5},
                                                          "opts": {"userId": None, "runId": None}}]},
         ["body", "lifecycleStrategies", 0, "opts"]),
        ({"participants": ["a"], "metadata": ["not", "an", "object"]}, ["body", "metadata"]),
        ({"participants": ["a"], "description": "d" * 1001}, ["body", "description"]),
        ({"participants": ["a"], "color": "red"}, ["body", "color"]),
    ],
)
def test_create_rejects_bad_input_with_422_and_writes_nothing(api, space, body, loc):
    response = api.post(sessions_url(space), body, format="json")
    assert response.status_code == 422, response.json()
    assert loc in [error["loc"] for error in response.json()["detail"]]
    assert space.sessions.count() == 0


@pytest.mark.parametrize(
    ("body", "error_type"),
    [
        ({"participants": ["a", "b"]}, "too_long"),
        ({"participants": []}, "too_short"),
        ({"participants": ["a"], "lifecycleStrategies": [STRATEGY] * 6}, "too_long"),
    ],
)
def test_a_list_of_the_wrong_length_is_a_list_error_not_a_string_error(api, space, body, error_type):
    """Seed 001's 422 entries are pydantic's: a list with too many or too few items is too_long / too_short
    (string_too_long is for text)."""
    response = api.post(sessions_url(space), body, format="json")
    assert response.status_code == 422
    assert [(e["loc"][:2], e["type"]) for e in response.json()["detail"]] == [(["body", next(reversed(body))],
                                                                              error_type)]


def test_update_rejects_an_empty_strategy_list(api, space):
    session = make_session(space)
    response = api.patch(sessions_url(space, session), {"lifecycleStrategies": []}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "lifecycleStrategies"]
    assert response.json()["detail"][0]["type"] == "too_short"


@pytest.mark.parametrize("path", ["not-a-uuid/", "00000000-0000-0000-0000-00000000000g/"])
def test_bad_session_uuid_is_422(api, space, path):
    response = api.get(sessions_url(space) + path)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "session_id"]


def test_metadata_keeps_its_keys_in_the_order_sent(api, space):
    """The contract stores metadata exactly as received; jsonb would answer the keys shortest first."""
    metadata = {"ticket": "T-1", "zz": 1, "a": {"longer": 1, "b": 2}}
    created = api.post(sessions_url(space), {"participants": ["u"], "metadata": metadata}, format="json")
    assert created.status_code == 201
    url = f"{sessions_url(space)}{created.json()['id']}/"
    assert list(json.loads(api.get(url).content)["metadata"]) == list(metadata)
    changed = {"zz": 2, "ticket": "T-2"}
    assert api.patch(url, {"metadata": changed}, format="json").status_code == 200
    assert list(json.loads(api.get(url).content)["metadata"]) == list(changed)


def test_client_camelizes_keys_inside_metadata_and_opts_and_they_are_stored_as_sent(dr, space):
    """The client camelizes every key at every depth; the server keeps what arrived, and the client
    snake-cases it again when it reads."""
    session = Session.create(
        memory_space_id=str(space.id), participants=[PARTICIPANT],
        metadata={"ticket_id": "T-1", "customer_info": {"account_tier": [{"since_year": 2020}]}},
        lifecycle_strategies=[{"type": "extract_memories", "trigger": {"event_count": 10},
                               "opts": {"soft_delete": False, "agent_id": "support-bot"}}],
    )
    stored = space.sessions.get(pk=session.id)
    assert stored.metadata == {"ticketId": "T-1", "customerInfo": {"accountTier": [{"sinceYear": 2020}]}}
    assert [s.as_wire() for s in stored.strategies.all()] == [
        {"type": "extract_memories", "trigger": {"eventCount": 10},
         "opts": {"softDelete": False, "agentId": "support-bot"}}]
    fetched = Session.get(str(space.id), session.id)
    assert fetched.metadata == {"ticket_id": "T-1", "customer_info": {"account_tier": [{"since_year": 2020}]}}

    fetched.update(lifecycle_strategies=fetched.lifecycle_strategies)  # what it read, sent back: unchanged
    assert [s.as_wire() for s in stored.strategies.all()] == [
        {"type": "extract_memories", "trigger": {"eventCount": 10},
         "opts": {"softDelete": False, "agentId": "support-bot"}}]


def test_client_clears_description_and_metadata_with_none(dr, space):
    session = Session.create(memory_space_id=str(space.id), participants=[PARTICIPANT], description="d",
                             metadata={"k": "v"})
    session.update(description=None)
    assert (session.description, session.metadata, session.version) == (None, {"k": "v"}, 2)
    session.update(metadata=None)
    fetched = Session.get(str(space.id), session.id)
    assert (fetched.description, fetched.metadata, fetched.version) == (None, None, 3)
    session.update()  # nothing to change: the client sends nothing, the version stays
    assert Session.get(str(space.id), session.id).version == 3


def test_client_reuses_a_session_deduplication_key_in_another_space_and_after_a_delete(dr, space, user):
    other_space = MemorySpaceFactory(owner=user)
    first = Session.create(memory_space_id=str(space.id), participants=[PARTICIPANT], deduplication_key="chat-1")
    elsewhere = Session.create(memory_space_id=str(other_space.id), participants=[PARTICIPANT],
                               deduplication_key="chat-1")
    assert elsewhere.deduplication_key == "chat-1" and elsewhere.id != first.id
    first.delete()  # soft-deleting frees the key in its space
    again = Session.create(memory_space_id=str(space.id), participants=[PARTICIPANT], deduplication_key="chat-1")
    assert again.id not in (first.id, elsewhere.id)


def test_concurrent_session_creates_with_one_deduplication_key_make_one_session(live_server, api_key, space):
    winner, conflicts = post_at_once(f"{live_server.url}{sessions_url(space)}",
                                     {"participants": [PARTICIPANT], "deduplicationKey": "race"}, api_key=api_key)
    assert {(c["errorName"], c["existingSessionId"], c["existingSessionUrl"]) for c in conflicts} == {
        ("SessionDeduplicationConflict", winner["id"], f"/memory/{space.id}/sessions/{winner['id']}/")}
    assert [str(s.id) for s in space.sessions.all()] == [winner["id"]]


def test_an_extraction_of_a_session_whose_participant_cannot_be_a_user_id_must_name_one(api, space):
    """Its memories' user_id is the participant unless opts name one, and a user_id has at most 64
    characters: refused when it is set, not failed in the worker (a value too long for the column) later."""
    session = make_session(space, participants=["p" * 65])
    extraction = {"type": "extract_memories", "trigger": {"ttl": 5}}
    refused = api.patch(sessions_url(space, session), {"lifecycleStrategies": [extraction]}, format="json")
    assert refused.status_code == 422
    assert [e["loc"] for e in refused.json()["detail"]] == [["body", "lifecycleStrategies", 0, "opts", "userId"]]
    named = api.patch(sessions_url(space, session), {"lifecycleStrategies": [{**extraction, "opts": {"userId": "p"}}]},
                      format="json")
    assert named.status_code == 200
    for_the_agent = {**extraction, "opts": {"userId": None, "agentId": "support-bot"}}  # the participant unused
    assert api.patch(sessions_url(space, session), {"lifecycleStrategies": [for_the_agent]},
                     format="json").status_code == 200
