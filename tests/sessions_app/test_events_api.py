"""Events: append (single, batch), read (offset/limit, lastN, eventType), edit with optimistic concurrency,
delete. The real `datarobot` client against a live server, plus raw HTTP for errors."""

import json
from datetime import timedelta, timezone

import pytest
from datarobot.errors import ClientError
from datarobot.models.memory import Session

from sessions_app.models import Event
from sessions_app.services import event_append_batch
from sessions_app.tokens import count_tokens

USER = {"type": "user", "id": "67500a000000000000000001"}
AGENT = {"type": "agent", "id": "67500a000000000000000002"}


def events_url(session, suffix=""):
    return f"/api/v2/memory/{session.space_id}/sessions/{session.id}/events/{suffix}"


def event(content, emitter=USER, event_type="message"):
    return {"body": {"content": content}, "emitter": emitter, "event_type": event_type}


def append(session, *contents):
    return event_append_batch(session=session, events=[event(c) for c in contents])


@pytest.fixture
def client_session(dr, space):
    return Session.create(memory_space_id=str(space.id), participants=[USER["id"]])


def test_client_appends_single_and_batch_events_numbered_from_zero(client_session):
    first = client_session.post_event(body={"content": "Hello, my deployment is failing"}, emitter=USER,
                                      event_type="MESSAGE")
    assert (first.sequence_id, first.emitter_type, first.emitter_id, first.event_type) == (
        0, "user", USER["id"], "message")
    batch = client_session.post_events([
        {"body": {"content": "Looking at it now."}, "emitter": AGENT, "event_type": "message"},
        {"body": {"content": "Rolled back.", "tool_call": {"name": "rollback"}}, "emitter": AGENT,
         "event_type": "tool_output"},
    ])
    assert [e.sequence_id for e in batch] == [1, 2]
    assert batch[1].event_type == "tool_output"
    assert [e.sequence_id for e in client_session.events()] == [0, 1, 2]


def test_client_reads_last_n_in_chronological_order_and_filters_by_type(client_session):
    client_session.post_events([
        {"body": {"content": f"m{i}"}, "emitter": USER, "event_type": "status" if i % 3 == 0 else "message"}
        for i in range(10)
    ])
    assert [e.body["content"] for e in client_session.events(last_n=3)] == ["m7", "m8", "m9"]
    assert [e.sequence_id for e in client_session.events(offset=2, limit=3)] == [2, 3, 4]
    assert [e.sequence_id for e in client_session.events(event_type="status")] == [0, 3, 6, 9]
    assert [e.sequence_id for e in client_session.events(event_type="status", last_n=2)] == [6, 9]
    with pytest.raises(TypeError):  # the client itself refuses offset + last_n; the server does too (below)
        client_session.events(offset=1, last_n=2)


def test_client_edits_an_event_and_a_stale_created_at_is_refused(client_session):
    original = client_session.post_event(body={"content": "Looking at it now."}, emitter=AGENT)
    edited = client_session.update_event(original.sequence_id, body={"content": "Looking at it now (ETA 5min)."},
                                         created_at=original.created_at)
    assert edited.body == {"content": "Looking at it now (ETA 5min)."}
    assert edited.created_at > original.created_at

    with pytest.raises(ClientError) as stale:
        client_session.update_event(original.sequence_id, body={"content": "lost update"},
                                    created_at=original.created_at)
    assert stale.value.status_code == 422
    assert stale.value.json["detail"][0]["msg"] == "Patch of incorrect version of event"
    assert client_session.events()[0].body["content"] == "Looking at it now (ETA 5min)."

    unconditional = client_session.update_event(original.sequence_id, event_type="status", emitter=USER)
    assert (unconditional.event_type, unconditional.emitter_type, unconditional.body["content"]) == (
        "status", "user", "Looking at it now (ETA 5min).")


def test_client_batch_edit_is_all_or_nothing(client_session):
    a, b = client_session.post_events([{"body": {"content": "a"}, "emitter": USER},
                                       {"body": {"content": "b"}, "emitter": USER}])
    changed = client_session.update_events([
        {"sequence_id": 0, "body": {"content": "a2"}, "created_at": a.created_at},
        {"sequence_id": 1, "body": {"content": "b2"}},
    ])
    assert [e.body["content"] for e in changed] == ["a2", "b2"]

    with pytest.raises(ClientError) as stale:
        client_session.update_events([
            {"sequence_id": 1, "body": {"content": "b3"}},
            {"sequence_id": 0, "body": {"content": "a3"}, "created_at": a.created_at},  # stale now
        ])
    assert stale.value.status_code == 422
    assert stale.value.json["detail"][0]["loc"] == ["body", "events", 1, "createdAt"]
    assert [e.body["content"] for e in client_session.events()] == ["a2", "b2"]


def test_client_deletes_an_event_and_its_sequence_id_is_never_reused(client_session, api_key, live_server):
    import requests

    client_session.post_events([{"body": {"content": c}, "emitter": USER} for c in "abc"])
    url = f"{live_server.url}/api/v2/memory/{client_session.memory_space_id}/sessions/{client_session.id}/events/1/"
    response = requests.delete(url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10)
    assert response.status_code == 204
    assert requests.delete(url, headers={"Authorization": f"Bearer {api_key}"}, timeout=10).status_code == 404
    assert client_session.post_event(body={"content": "d"}, emitter=USER).sequence_id == 3
    assert [e.sequence_id for e in client_session.events()] == [0, 2, 3]


def test_body_and_metadata_are_stored_exactly_as_received(api, session):
    body = {"content": "x", "someKey": {"nested_key": [1, {"deepKey": None}]}, "emoji": "🚀", "n": 1.5}
    response = api.post(events_url(session), {"body": body, "emitter": USER}, format="json")
    assert response.status_code == 201
    assert response.json()["body"] == body
    assert Event.objects.get().body == body


def test_an_append_and_a_last_n_read_are_three_queries_each(api, session, django_assert_num_queries):
    """The key, the session (its space checked by join, not loaded), and the one statement that appends or
    reads."""
    assert api.get(events_url(session)).status_code == 200  # the key's first use also stamps its last_used_at
    with django_assert_num_queries(3) as queries:
        response = api.post(events_url(session), {"body": {"content": "hi"}, "emitter": USER}, format="json")
    assert response.status_code == 201
    assert "llm_model_name" not in queries.captured_queries[1]["sql"]
    with django_assert_num_queries(3):
        assert [e["sequenceId"] for e in api.get(events_url(session), {"lastN": 5}).json()["items"]] == [0]


def test_counters_follow_appends_edits_and_deletes(api, session):
    append(session, "hello world", "a much longer message with many more tokens in it")
    session.refresh_from_db()
    expected_tokens = count_tokens("hello world") + count_tokens("a much longer message with many more tokens in it")
    assert (session.event_count, session.token_count, session.next_sequence_id) == (2, expected_tokens, 2)
    assert session.last_event_at is not None

    api.patch(events_url(session, "0/"), {"body": {"content": "hi"}}, format="json")
    api.delete(events_url(session, "1/"))
    session.refresh_from_db()
    assert (session.event_count, session.token_count, session.next_sequence_id) == (1, count_tokens("hi"), 2)


def test_list_envelope_reports_total(api, session):
    append(session, *[f"m{i}" for i in range(7)])
    page = api.get(events_url(session), {"offset": 5, "limit": 10}).json()
    assert [e["sequenceId"] for e in page["items"]] == [5, 6]
    assert (page["offset"], page["limit"], page["total"]) == (5, 10, 7)
    last = api.get(events_url(session), {"lastN": 3}).json()
    assert [e["sequenceId"] for e in last["items"]] == [4, 5, 6] and last["total"] == 7


def test_created_at_is_compared_as_an_instant(api, session):
    (ev,) = append(session, "a")
    naive_utc = ev.created_at.replace(tzinfo=None).isoformat()
    plus_two = ev.created_at.astimezone(timezone(timedelta(hours=2))).isoformat()
    assert api.patch(events_url(session, "0/") + f"?createdAt={naive_utc}", {"body": {"content": "b"}},
                     format="json").status_code == 200
    ev.refresh_from_db()
    assert api.patch(events_url(session, "0/"), {"body": {"content": "c"}}, format="json",
                     QUERY_STRING=f"createdAt={plus_two}").status_code == 422  # stale: the edit above moved it
    plus_two_now = ev.created_at.astimezone(timezone(timedelta(hours=2))).isoformat()
    response = api.patch(events_url(session, "0/"), {"body": {"content": "c"}}, format="json",
                         QUERY_STRING=f"createdAt={plus_two_now.replace('+', '%2B')}")
    assert response.status_code == 200


def test_a_stale_edit_names_the_current_version_as_every_answer_writes_times(api, session):
    """`currentCreatedAt` was written with +00:00 where every answer writes Z: a client comparing it with the
    createdAt it reads found them different for the same instant."""
    append(session, "a")
    current = api.get(events_url(session)).json()["items"][0]["createdAt"]
    response = api.patch(events_url(session, "0/"), {"body": {"content": "b"}}, format="json",
                         QUERY_STRING="createdAt=2001-01-01T00:00:00Z")
    assert response.status_code == 422
    assert response.json()["detail"][0]["ctx"] == {"currentCreatedAt": current} and current.endswith("Z")


def test_batch_over_200_is_422_and_writes_nothing(api, session):
    response = api.post(events_url(session, "batch/"),
                        {"events": [{"body": {"content": "x"}, "emitter": USER}] * 201}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "events"]
    assert response.json()["detail"][0]["type"] == "too_long"  # a list's error, not a string's
    assert Event.objects.count() == 0


def test_batch_invalid_half_way_writes_nothing(api, session):
    events = [{"body": {"content": f"ok {i}"}, "emitter": USER} for i in range(100)]
    events[57] = {"body": {"content": ""}, "emitter": USER}
    response = api.post(events_url(session, "batch/"), {"events": events}, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "events", 57, "body", "content"]
    assert Event.objects.count() == 0
    session.refresh_from_db()
    assert (session.next_sequence_id, session.event_count) == (0, 0)


def test_batch_edit_fields_sent_as_null_stay_as_they_are(api, session):
    append(session, "a")
    response = api.patch(events_url(session, "batch/"), {"events": [
        {"sequenceId": 0, "body": None, "type": None, "emitter": None, "createdAt": None}]}, format="json")
    assert response.status_code == 200, response.json()
    (item,) = response.json()["items"]
    assert (item["body"], item["eventType"], item["emitterType"]) == ({"content": "a"}, "message", "user")


def test_batch_edit_of_a_missing_event_changes_nothing(api, session):
    append(session, "a")
    response = api.patch(events_url(session, "batch/"), {"events": [
        {"sequenceId": 0, "body": {"content": "changed"}}, {"sequenceId": 5, "body": {"content": "x"}}]},
        format="json")
    assert response.status_code == 404
    assert Event.objects.get().body == {"content": "a"}


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"emitter": USER}, ["body", "body"]),
        ({"body": {"content": "x"}}, ["body", "emitter"]),
        ({"body": {}, "emitter": USER}, ["body", "body", "content"]),
        ({"body": {"content": ""}, "emitter": USER}, ["body", "body", "content"]),
        ({"body": {"content": "x" * 100_001}, "emitter": USER}, ["body", "body", "content"]),
        ({"body": {"content": 5}, "emitter": USER}, ["body", "body", "content"]),
        ({"body": "just text", "emitter": USER}, ["body", "body"]),
        ({"body": {"content": "x"}, "emitter": {"type": "robot"}}, ["body", "emitter", "type"]),
        ({"body": {"content": "x"}, "emitter": {"id": "u"}}, ["body", "emitter", "type"]),
        ({"body": {"content": "x"}, "emitter": USER, "type": "chat"}, ["body", "type"]),
        ({"body": {"content": "x"}, "emitter": USER, "sequenceId": 9}, ["body", "sequenceId"]),
    ],
)
def test_append_rejects_bad_input_with_422(api, session, body, loc):
    response = api.post(events_url(session), body, format="json")
    assert response.status_code == 422, response.json()
    assert loc in [error["loc"] for error in response.json()["detail"]]
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    ("query", "loc"),
    [
        ({"lastN": 2, "offset": 1}, ["query", "lastN"]),
        ({"lastN": 0}, ["query", "lastN"]),
        ({"lastN": 101}, ["query", "lastN"]),
        ({"lastN": "x"}, ["query", "lastN"]),
        ({"limit": 0}, ["query", "limit"]),
        ({"limit": 1000}, ["query", "limit"]),
        ({"offset": -5}, ["query", "offset"]),
        ({"offset": 10**20}, ["query", "offset"]),
        ({"eventType": "chat"}, ["query", "eventType"]),
    ],
)
def test_list_rejects_bad_query_with_422(api, session, query, loc):
    response = api.get(events_url(session), query)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


@pytest.mark.parametrize("suffix", ["abc/", "-1/", "99999999999999999999999/",
                                    "9" * 5000 + "/"])  # more digits than int() takes: was a 500
def test_bad_sequence_id_in_path_is_422(api, session, suffix):
    for method, body in (("patch", {"body": {"content": "x"}}), ("delete", None)):
        response = getattr(api, method)(events_url(session, suffix), body, format="json")
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["path", "sequence_id"]


def test_missing_event_is_404(api, session):
    response = api.patch(events_url(session, "3/"), {"body": {"content": "x"}}, format="json")
    assert response.status_code == 404
    assert "Event not found" in response.json()["detail"]


def test_bad_created_at_query_is_422(api, session):
    append(session, "a")
    response = api.patch(events_url(session, "0/") + "?createdAt=yesterday", {"body": {"content": "x"}},
                         format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "createdAt"]


def test_edit_rejects_unknown_keys_and_duplicate_sequence_ids(api, session):
    append(session, "a")
    assert api.patch(events_url(session, "0/"), {"content": "x"}, format="json").status_code == 422
    response = api.patch(events_url(session, "batch/"), {"events": [{"sequenceId": 0}, {"sequenceId": 0}]},
                         format="json")
    assert response.status_code == 422


def test_events_of_a_deleted_session_are_hidden(api, session):
    append(session, "a")
    api.delete(f"/api/v2/memory/{session.space_id}/sessions/{session.id}/")
    assert api.get(events_url(session)).status_code == 404
    assert api.post(events_url(session), {"body": {"content": "x"}, "emitter": USER},
                    format="json").status_code == 404
    assert Event.objects.count() == 1  # kept, hidden


def test_append_to_a_session_deleted_after_lookup_is_404_and_writes_nothing(session):
    from config.api.errors import NotFound
    from sessions_app.services import session_soft_delete

    session_soft_delete(session=session)
    with pytest.raises(NotFound):
        append(session, "late")
    assert Event.objects.count() == 0


def test_last_n_skips_deleted_events(api, session):
    append(session, *[f"m{i}" for i in range(6)])
    api.delete(events_url(session, "4/"))
    last = api.get(events_url(session), {"lastN": 3}).json()["items"]
    assert [e["sequenceId"] for e in last] == [2, 3, 5]


def test_last_n_beyond_the_session_returns_every_live_event(api, session):
    append(session, "m0", "m1", "m2")
    api.delete(events_url(session, "1/"))
    page = api.get(events_url(session), {"lastN": 5}).json()
    assert [e["sequenceId"] for e in page["items"]] == [0, 2]
    assert (page["offset"], page["total"]) == (0, 2)


def test_totals_count_the_live_events_of_the_type_asked(api, session):
    event_append_batch(session=session, events=[event(f"m{i}", event_type="status" if i % 2 else "message")
                                                for i in range(7)])
    api.delete(events_url(session, "3/"))
    for query, total, offset in (({}, 6, 0), ({"eventType": "status"}, 2, 0), ({"lastN": 2}, 6, 4),
                                 ({"lastN": 1, "eventType": "status"}, 2, 1)):
        page = api.get(events_url(session), query).json()
        assert (page["total"], page["offset"]) == (total, offset), query


def test_bodies_keep_their_keys_in_the_order_sent(api, session):
    """The contract stores bodies exactly as received; jsonb would answer the keys shortest first."""
    def posted(body):  # the raw text, so that nothing on this side orders the keys
        return api.generic("POST", events_url(session), json.dumps({"body": body, "emitter": USER}),
                           content_type="application/json")

    first = {"content": "hi", "zebra": 1, "a": {"yy": 2, "b": [{"long_key": 1, "k": 2}]}}
    assert posted(first).status_code == 201
    assert api.post(events_url(session, "batch/"), {"events": [{"body": first, "emitter": USER}]}, format="json"
                    ).status_code == 201
    edited = {"tool_calls": [], "content": "edited", "role": "assistant"}
    assert api.patch(events_url(session, "1/"), {"body": edited}, format="json").status_code == 200
    items = json.loads(api.get(events_url(session)).content)["items"]
    assert [list(item["body"]) for item in items] == [list(first), list(edited)]
    assert list(items[0]["body"]["a"]) == ["yy", "b"] and list(items[0]["body"]["a"]["b"][0]) == ["long_key", "k"]


def test_client_pages_through_more_than_one_page_of_events(client_session, dr):
    client_session.post_events([{"body": {"content": f"m{i}"}, "emitter": USER} for i in range(150)])
    assert [e.sequence_id for e in client_session.events()] == list(range(100))  # a page is at most 100
    assert [e.sequence_id for e in client_session.events(offset=100)] == list(range(100, 150))
    assert [e.sequence_id for e in client_session.events(offset=98, limit=4)] == [98, 99, 100, 101]
    raw = dr.client.get_client().get(
        f"memory/{client_session.memory_space_id}/sessions/{client_session.id}/events/", params={"offset": 140}).json()
    assert (raw["offset"], raw["limit"], raw["total"], len(raw["items"])) == (140, 100, 150, 10)
    with pytest.raises(ClientError) as too_many:
        client_session.events(last_n=101)
    assert too_many.value.status_code == 422


def test_client_camelizes_keys_inside_a_body_and_they_are_stored_as_sent(client_session):
    posted = client_session.post_event(body={"content": "Rolled back.", "tool_call": {"call_id": "c1",
                                                                                        "raw_args": [{"dry_run": 1}]}},
                                       emitter=AGENT, event_type="tool_output")
    sent = {"content": "Rolled back.", "toolCall": {"callId": "c1", "rawArgs": [{"dryRun": 1}]}}
    assert Event.objects.get(session_id=client_session.id, sequence_id=posted.sequence_id).body == sent
    assert posted.body == {"content": "Rolled back.", "tool_call": {"call_id": "c1", "raw_args": [{"dry_run": 1}]}}

    client_session.update_events([{"sequence_id": posted.sequence_id, "body": {"content": "x", "extra_key": 2}}])
    assert Event.objects.get(session_id=client_session.id).body == {"content": "x", "extraKey": 2}


def test_client_batch_edit_answers_in_the_order_of_the_edits(client_session):
    client_session.post_events([{"body": {"content": c}, "emitter": USER} for c in "abc"])
    changed = client_session.update_events([{"sequence_id": 2, "body": {"content": "c2"}},
                                            {"sequence_id": 0, "event_type": "status", "emitter": AGENT}])
    assert [(e.sequence_id, e.body["content"], e.event_type, e.emitter_type) for e in changed] == [
        (2, "c2", "message", "user"), (0, "a", "status", "agent")]
    assert [(e.sequence_id, e.body["content"]) for e in client_session.events()] == [(0, "a"), (1, "b"), (2, "c2")]
