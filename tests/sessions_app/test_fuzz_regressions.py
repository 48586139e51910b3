"""What fuzzing from the OpenAPI document (tests/test_fuzz_schema.py) found on sessions and events, kept as
ordinary tests."""

import pytest

from sessions_app.models import Event, Session
from sessions_app.services import event_append_batch
from tests.openapi_conformance import assert_conforms, served_schema

SESSION = "/api/v2/memory/{space_id}/sessions/{session_id}/"
EVENT = SESSION + "events/{sequence_id}/"
USER = {"type": "user", "id": "u1"}


def url(session, template: str, **ids) -> str:
    return template.format(space_id=session.space_id, session_id=session.id, **ids)


def request_schema(path: str, method: str) -> dict:
    document = served_schema()
    ref = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    return document["components"]["schemas"][ref.rsplit("/", 1)[1]]


@pytest.mark.parametrize("sequence_id", ["\u00b2", "\u2460", "\u0661", "1\u00b3"])
def test_a_sequence_id_of_non_ascii_digits_is_422_not_500(api, session, sequence_id):
    """`"²".isdigit()` is true but `int("²")` fails: that was a 500. ("١" parsed as 1.)"""
    event_append_batch(session=session, events=[{"body": {"content": "hi"}, "emitter": USER,
                                                 "event_type": "message"}])
    for method, body in (("delete", None), ("patch", {"body": {"content": "edited"}})):
        response = getattr(api, method)(url(session, EVENT, sequence_id=sequence_id), body, format="json")
        assert response.status_code == 422, response.content
        assert response.json()["detail"][0]["loc"] == ["path", "sequence_id"]
        assert_conforms(response, method, EVENT)
    assert Event.objects.get().body == {"content": "hi"}


@pytest.mark.parametrize("if_match", ["\u00b2", '"\u00b9"', "W/\u00b3"])
def test_an_if_match_of_non_ascii_digits_is_422_not_500(api, session, if_match):
    response = api.patch(url(session, SESSION), {"description": "x"}, format="json", HTTP_IF_MATCH=if_match)
    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["loc"] == ["header", "If-Match"]
    assert_conforms(response, "patch", SESSION)
    assert Session.objects.get().version == 1


def test_the_if_match_header_is_documented_with_the_forms_it_takes(api, session):
    parameters = served_schema()["paths"][SESSION]["patch"]["parameters"]
    (if_match,) = [p for p in parameters if p["name"] == "If-Match"]
    assert if_match["schema"]["pattern"]
    response = api.patch(url(session, SESSION), {"description": "x"}, format="json", HTTP_IF_MATCH='W/"1"')
    assert response.status_code == 200
    assert_conforms(response, "patch", SESSION)


def test_the_batch_edit_body_is_documented_as_required_not_as_a_partial_patch(api, session):
    """The document showed a "Patched…" body where nothing is required, but `events` (1..200) is."""
    schema = request_schema(SESSION + "events/batch/", "patch")
    assert schema["required"] == ["events"]
    assert (schema["properties"]["events"]["minItems"], schema["properties"]["events"]["maxItems"]) == (1, 200)
    for body in ({}, {"events": []}):
        response = api.patch(url(session, SESSION + "events/batch/"), body, format="json")
        assert response.status_code == 422
        assert_conforms(response, "patch", SESSION + "events/batch/")


def test_a_trigger_is_documented_as_exactly_one_key_and_never_as_true(api, space):
    document = served_schema()["components"]["schemas"]
    trigger = document["TriggerInRequest"]
    assert (trigger["minProperties"], trigger["maxProperties"]) == (1, 1)
    route = "/api/v2/memory/{space_id}/sessions/"
    for strategy_trigger in ({"ttl": 10, "idle": 10}, {}, {"never": False}):
        body = {"participants": ["p"], "lifecycleStrategies": [{"type": "soft_delete", "trigger": strategy_trigger}]}
        response = api.post(route.format(space_id=space.id), body, format="json")
        assert response.status_code == 422, (strategy_trigger, response.content)
        assert_conforms(response, "post", route)
    body = {"participants": ["p"], "lifecycleStrategies": [{"type": "soft_delete", "trigger": {"never": True}}]}
    response = api.post(route.format(space_id=space.id), body, format="json")
    assert response.status_code == 201
    assert_conforms(response, "post", route)


def test_null_values_inside_session_metadata_are_stored_as_received(api, space):
    """`{"metadata": {"k": null}}` was refused with 422 "This field may not be null"."""
    route = "/api/v2/memory/{space_id}/sessions/"
    metadata = {"ticket": None, "nested": {"k": None}, "list": [None]}
    response = api.post(route.format(space_id=space.id), {"participants": ["p"], "metadata": metadata}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["metadata"] == metadata
    assert Session.objects.get().metadata == metadata
    assert_conforms(response, "post", route)
