"""Free-form JSON a client stores is bounded (config.limits): session metadata and strategy opts by
METADATA_MAX_BYTES (64 KiB), an event body's keys besides `content` by EVENT_BODY_EXTRA_MAX_BYTES (256 KiB),
measured as compact UTF-8 JSON text. At the bound it is stored; past it, a 422 naming the field and the bound,
and nothing is written (a batch entirely or not at all). Before, only the 100 MB request size bounded them."""

import json

import pytest

from sessions_app.models import Event, LifecycleStrategy, Session
from sessions_app.services import event_append_batch
from tests.admin_forms import admin_pages, change_form_data
from tests.factories import json_object_of, make_session
from tests.openapi_conformance import served_schema

METADATA_MAX = 64 * 1024
BODY_EXTRA_MAX = 256 * 1024
USER = {"type": "user", "id": "u1"}
STRATEGY = {"type": "extract_memories", "trigger": {"idle": 3600}}

_, change, _ = admin_pages("sessions_app")


def sessions_url(space, session=None):
    return f"/api/v2/memory/{space.id}/sessions/" + (f"{session.id}/" if session else "")


def events_url(session, suffix=""):
    return f"/api/v2/memory/{session.space_id}/sessions/{session.id}/events/{suffix}"


def body_with_extra(size: int, content="hello") -> dict:
    """A body whose keys besides `content` take exactly `size` bytes as JSON."""
    return {"content": content, **json_object_of(size, key="extra")}


def assert_refused(response, loc: list, limit: int):
    assert response.status_code == 422, response.content
    entry, = response.json()["detail"]
    assert entry["loc"] == loc and entry["type"] == "too_long"
    assert f"at most {limit} bytes" in entry["msg"]


@pytest.fixture(autouse=True)
def default_bounds(settings):
    """The defaults, whatever the environment of the run says."""
    settings.METADATA_MAX_BYTES, settings.EVENT_BODY_EXTRA_MAX_BYTES = METADATA_MAX, BODY_EXTRA_MAX


# --- sessions ---------------------------------------------------------------------------------------------
def test_session_metadata_at_the_bound_is_created_and_one_byte_over_is_refused(api, space):
    at_bound = json_object_of(METADATA_MAX)
    response = api.post(sessions_url(space), {"participants": ["p"], "metadata": at_bound}, format="json")
    assert response.status_code == 201 and response.json()["metadata"] == at_bound
    response = api.post(sessions_url(space), {"participants": ["p"], "metadata": json_object_of(METADATA_MAX + 1)},
                        format="json")
    assert_refused(response, ["body", "metadata"], METADATA_MAX)
    assert "metadata" in response.json()["detail"][0]["msg"]
    assert Session.objects.count() == 1


def test_non_ascii_metadata_counts_its_utf8_bytes_not_its_characters(api, space):
    # "é" is 2 bytes: 32,766 of them plus {"k":""} are 65,539 bytes, though only 32,773 characters
    response = api.post(sessions_url(space), {"participants": ["p"], "metadata": {"k": "é" * 32_766}},
                        format="json")
    assert_refused(response, ["body", "metadata"], METADATA_MAX)


def test_session_metadata_update_over_the_bound_changes_nothing(api, space):
    session = make_session(space, metadata={"a": 1})
    response = api.patch(sessions_url(space, session), {"metadata": json_object_of(METADATA_MAX + 1)},
                         format="json")
    assert_refused(response, ["body", "metadata"], METADATA_MAX)
    session.refresh_from_db()
    assert (session.metadata, session.version) == ({"a": 1}, 1)
    at_bound = json_object_of(METADATA_MAX)
    response = api.patch(sessions_url(space, session), {"metadata": at_bound}, format="json")
    assert response.status_code == 200 and response.json()["metadata"] == at_bound


def extraction_opts(size: int) -> dict:
    """`extract_memories` opts with metadata for its memories, of exactly `size` bytes as JSON."""
    frame = {"userId": "alice", "metadata": {"k": ""}}
    return {"userId": "alice", "metadata": {"k": "x" * (size - len(json.dumps(frame, separators=(",", ":"))))}}


def test_strategy_opts_are_bounded_like_metadata_on_create_and_update(api, space):
    """An extraction's opts carry the metadata its memories get, and any other keys: kept, so bounded."""
    over = {"participants": ["p"], "lifecycleStrategies": [{**STRATEGY, "opts": extraction_opts(METADATA_MAX + 1)}]}
    assert_refused(api.post(sessions_url(space), over, format="json"),
                   ["body", "lifecycleStrategies", 0, "opts"], METADATA_MAX)
    assert not Session.objects.exists()
    at_bound = {**STRATEGY, "opts": extraction_opts(METADATA_MAX)}
    response = api.post(sessions_url(space), {"participants": ["p"], "lifecycleStrategies": [at_bound]},
                        format="json")
    assert response.status_code == 201, response.content
    session = Session.objects.get()
    response = api.patch(sessions_url(space, session), {"lifecycleStrategies": [
        {**STRATEGY, "opts": json_object_of(METADATA_MAX + 1, key="note")}]}, format="json")
    assert_refused(response, ["body", "lifecycleStrategies", 0, "opts"], METADATA_MAX)
    assert LifecycleStrategy.objects.get().opts == at_bound["opts"]


def test_the_bound_is_the_setting_in_force(api, space, settings):
    settings.METADATA_MAX_BYTES = 100
    response = api.post(sessions_url(space), {"participants": ["p"], "metadata": json_object_of(101)},
                        format="json")
    assert_refused(response, ["body", "metadata"], 100)
    assert api.post(sessions_url(space), {"participants": ["p"], "metadata": json_object_of(100)},
                    format="json").status_code == 201


def test_the_document_tells_the_bounds():
    schemas = served_schema()["components"]["schemas"]
    for name, field in [("SessionCreateInRequest", "metadata"), ("SessionUpdateInRequest", "metadata"),
                        ("StrategyInRequest", "opts")]:
        assert f"At most {METADATA_MAX} bytes" in schemas[name]["properties"][field]["description"]
    assert "EVENT_BODY_EXTRA_MAX_BYTES" in schemas["EventBodyInRequest"]["description"]


# --- events -----------------------------------------------------------------------------------------------
def test_an_event_body_is_bounded_besides_its_content(api, session):
    """A full 100,000-character content and extra keys at their bound are taken: content has its own bound."""
    at_bound = body_with_extra(BODY_EXTRA_MAX, content="c" * 100_000)
    response = api.post(events_url(session), {"body": at_bound, "emitter": USER}, format="json")
    assert response.status_code == 201 and response.json()["body"] == at_bound
    response = api.post(events_url(session), {"body": body_with_extra(BODY_EXTRA_MAX + 1), "emitter": USER},
                        format="json")
    assert_refused(response, ["body", "body"], BODY_EXTRA_MAX)
    assert "besides content" in response.json()["detail"][0]["msg"]
    assert Event.objects.count() == 1
    session.refresh_from_db()
    assert (session.next_sequence_id, session.event_count) == (1, 1)


def test_a_batch_with_one_body_over_the_bound_appends_nothing(api, session):
    events = [{"body": {"content": f"m{i}"}, "emitter": USER} for i in range(3)]
    events[1]["body"] = body_with_extra(BODY_EXTRA_MAX + 1)
    response = api.post(events_url(session, "batch/"), {"events": events}, format="json")
    assert_refused(response, ["body", "events", 1, "body"], BODY_EXTRA_MAX)
    assert not Event.objects.exists()
    events[1]["body"] = body_with_extra(BODY_EXTRA_MAX)
    response = api.post(events_url(session, "batch/"), {"events": events}, format="json")
    assert response.status_code == 201 and [e["sequenceId"] for e in response.json()["items"]] == [0, 1, 2]


def test_an_event_edit_over_the_bound_changes_nothing(api, session):
    event, = event_append_batch(session=session, events=[{"body": {"content": "hi"}, "emitter": USER,
                                                          "event_type": "message"}])
    response = api.patch(events_url(session, "0/"), {"body": body_with_extra(BODY_EXTRA_MAX + 1)}, format="json")
    assert_refused(response, ["body", "body"], BODY_EXTRA_MAX)
    unchanged = Event.objects.get()
    assert (unchanged.body, unchanged.created_at) == ({"content": "hi"}, event.created_at)
    response = api.patch(events_url(session, "0/"), {"body": body_with_extra(BODY_EXTRA_MAX)}, format="json")
    assert response.status_code == 200, response.content


def test_a_batch_edit_with_one_body_over_the_bound_changes_nothing(api, session):
    event_append_batch(session=session, events=[{"body": {"content": f"m{i}"}, "emitter": USER,
                                                 "event_type": "message"} for i in range(2)])
    edits = [{"sequenceId": 0, "body": {"content": "edited"}},
             {"sequenceId": 1, "body": body_with_extra(BODY_EXTRA_MAX + 1)}]
    response = api.patch(events_url(session, "batch/"), {"events": edits}, format="json")
    assert_refused(response, ["body", "events", 1, "body"], BODY_EXTRA_MAX)
    assert [e.body for e in Event.objects.order_by("sequence_id")] == [{"content": "m0"}, {"content": "m1"}]


# --- the admin --------------------------------------------------------------------------------------------
def test_the_admin_holds_session_metadata_to_the_same_bound(admin_client, session):
    url = change("session", session.pk)
    over = {**change_form_data(admin_client, url), "metadata": json.dumps(json_object_of(METADATA_MAX + 1))}
    response = admin_client.post(url, over)
    assert response.status_code == 200 and f"at most {METADATA_MAX} bytes" in response.content.decode()
    session.refresh_from_db()
    assert (session.metadata, session.version) == (None, 1)
    at_bound = {**change_form_data(admin_client, url), "metadata": json.dumps(json_object_of(METADATA_MAX))}
    assert admin_client.post(url, at_bound).status_code == 302
    session.refresh_from_db()
    assert session.metadata == json_object_of(METADATA_MAX)
