"""Answers the fuzzer (tests/test_fuzz_schema.py) rarely or never reaches, because they need a state its
generated requests do not build: conflicts, stale versions, the rate limit, bodies over the size limit, queued
adds, histories of edited memories. Each is checked against the OpenAPI document the server serves, keys
included (`assert_conforms` refuses keys the document does not name)."""

import json

import pytest

from tests.openapi_conformance import assert_conforms

SPACE = "/api/v2/memory/{space_id}/"
SESSION = SPACE + "sessions/{session_id}/"


@pytest.fixture(autouse=True)
def no_llm(settings):
    settings.LLM_MODEL = None


def test_a_stale_if_match_answers_the_documented_conflict(api, space, session):
    response = api.patch(SESSION.format(space_id=space.id, session_id=session.id), {"description": "x"},
                         format="json", HTTP_IF_MATCH='"7"')
    assert response.status_code == 409
    assert response.json()["errorName"] == "SessionVersionConflict" and response.json()["currentVersion"] == 1
    assert_conforms(response, "PATCH", SESSION)


def add(api, space, text="I like tea", **fields) -> str:
    response = api.post(SPACE.format(space_id=space.id) + "v1/memories/",
                        {"messages": text, "user_id": "alice", "infer": False, **fields}, format="json")
    assert response.status_code == 200, response.content
    return response.json()["results"][0]["id"]


def test_deduplication_conflicts_answer_their_documented_shapes(api, space):
    for path, url, body in (("/api/v2/memory/new/", "/api/v2/memory/new/", {"deduplicationKey": "k"}),
                            (SPACE + "sessions/", SPACE.format(space_id=space.id) + "sessions/",
                             {"participants": ["p"], "deduplicationKey": "k"})):
        assert api.post(url, body, format="json").status_code == 201
        response = api.post(url, body, format="json")
        assert response.status_code == 409 and response.json()["errorName"].endswith("DeduplicationConflict")
        assert_conforms(response, "POST", path)


@pytest.mark.parametrize(("method", "route", "body"), [
    ("PUT", "v1/memories/{memory_id}/", {"text": "x"}),
    ("PUT", "memories/{memory_id}/", {"text": "x"}),
    ("PUT", "v1/batch/", {"memories": [{"memory_id": "{memory_id}", "text": "x"}]}),
])
def test_an_update_of_an_immutable_memory_answers_the_documented_409(api, space, method, route, body):
    memory_id = add(api, space, immutable=True)
    if "memories" in body:
        body = {"memories": [{"memory_id": memory_id, "text": "x"}]}
    response = api.generic(method, (SPACE + route).format(space_id=space.id, memory_id=memory_id),
                           json.dumps(body), content_type="application/json")
    assert response.status_code == 409
    assert_conforms(response, method, SPACE + route)


def test_a_stale_event_version_answers_the_documented_422(api, space, session):
    url = SESSION.format(space_id=space.id, session_id=session.id) + "events/"
    assert api.post(url, {"body": {"content": "a"}, "emitter": {"type": "user"}}, format="json").status_code == 201
    response = api.patch(url + "0/?createdAt=2020-01-01T00:00:00Z", {"body": {"content": "b"}}, format="json")
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "stale_version"
    assert_conforms(response, "PATCH", SESSION + "events/{sequence_id}/")


def test_the_rate_limit_answers_the_documented_429(api, space, monkeypatch):
    from memoryspaces.throttling import ApiKeyRateThrottle

    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "1/minute"})
    url = SPACE.format(space_id=space.id) + "v1/ping/"
    assert api.get(url).status_code == 200
    response = api.get(url)
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    assert_conforms(response, "GET", SPACE + "v1/ping/")


def test_a_body_over_the_limit_and_a_bad_key_answer_as_documented(api, client, space, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    response = api.post(SPACE.format(space_id=space.id) + "v3/memories/add/",
                        {"messages": "x" * 200, "user_id": "alice"}, format="json")
    assert response.status_code == 413
    assert_conforms(response, "POST", SPACE + "v3/memories/add/")
    response = client.get(SPACE.format(space_id=space.id) + "v1/ping/", HTTP_AUTHORIZATION="Token nope")
    assert response.status_code == 401
    assert_conforms(response, "GET", SPACE + "v1/ping/")


def test_a_memory_edited_then_deleted_answers_its_documented_history_and_entities(api, space):
    memory_id = add(api, space, metadata={"k": 1}, categories=["drinks"])
    root = SPACE.format(space_id=space.id)
    assert api.put(root + f"v1/memories/{memory_id}/", {"text": "I like green tea"}, format="json").status_code == 200
    response = api.get(root + "v1/entities/")
    assert response.json()["count"] == 1
    assert_conforms(response, "GET", SPACE + "v1/entities/")
    assert api.delete(root + f"v1/memories/{memory_id}/").status_code == 200
    for route in ("v1/memories/{memory_id}/history/", "memories/{memory_id}/history/"):
        response = api.get((SPACE + route).format(space_id=space.id, memory_id=memory_id))
        assert [entry["event"] for entry in response.json()] == ["ADD", "UPDATE", "DELETE"]
        assert_conforms(response, "GET", SPACE + route)


def test_searches_answer_either_documented_shape(api, space):
    add(api, space)
    root = SPACE.format(space_id=space.id)
    for route, body in (("v1/memories/search/", {"query": "tea", "output_format": "v1.0"}),
                        ("v3/memories/search/", {"query": "tea", "user_id": "alice"}),
                        ("search/", {"query": "tea", "user_id": "alice"})):
        response = api.post(root + route, body, format="json")
        assert response.status_code == 200
        assert_conforms(response, "POST", SPACE + route)


def test_a_queued_add_its_status_exports_and_feedback_answer_as_documented(api, space):
    root = SPACE.format(space_id=space.id)
    memory_id = add(api, space)
    response = api.post(root + "v3/memories/add/", {"messages": "I like juice", "user_id": "alice",
                                                    "infer": False, "async_mode": True}, format="json")
    assert response.json()["status"] == "PENDING"
    assert_conforms(response, "POST", SPACE + "v3/memories/add/")
    response = api.get(root + f"v1/event/{response.json()['event_id']}/")
    assert response.status_code == 200
    assert_conforms(response, "GET", SPACE + "v1/event/{event_id}/")
    response = api.post(root + "memories/", {"messages": "I like milk", "user_id": "alice", "async_mode": True},
                        format="json")
    assert "event_id" in response.json()
    assert_conforms(response, "POST", SPACE + "memories/")
    for route, body in (("v1/exports/", {"schema": {"properties": {"memory": {}, "k": {}}}, "user_id": "alice"}),
                        ("v1/exports/get/", {"user_id": "alice"}),
                        ("v1/feedback/", {"memory_id": memory_id, "feedback": "POSITIVE", "feedback_reason": "ok"}),
                        ("configure/", {"llm": {"config": {"model": "gpt-4o-mini"}}})):
        response = api.post(root + route, body, format="json")
        assert response.status_code == 200, (route, response.content)
        assert_conforms(response, "POST", SPACE + route)


def test_the_fixed_vocabularies_of_answers_are_documented_as_enums(api, space, session):
    """They were documented as any string: client generators could not make enums of them."""
    from tests.openapi_conformance import served_schema

    schemas = served_schema()["components"]["schemas"]

    def enum(component: str, field: str) -> list:
        schema = schemas[component]["properties"][field]
        schema = schemas[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema
        return schema.get("enum")

    assert enum("EventOut", "eventType") == ["message", "tool_output", "status"]
    assert enum("EventOut", "emitterType") == ["user", "agent"]
    assert enum("StrategyOut", "type") == ["soft_delete", "extract_memories"]
    trigger = schemas["StrategyOut"]["properties"]["trigger"]
    trigger = schemas[trigger["$ref"].rsplit("/", 1)[1]] if "$ref" in trigger else trigger
    assert set(trigger["properties"]) == {"ttl", "idle", "eventCount", "tokenCount", "never"}
    assert (trigger["minProperties"], trigger["maxProperties"]) == (1, 1)
    assert enum("HistoryOut", "event") == ["ADD", "UPDATE", "DELETE"]
    assert enum("EntityOut", "type") == ["user", "agent", "app", "run"]
    assert enum("AddRequestOut", "status") == ["PENDING", "RUNNING", "SUCCEEDED", "FAILED"]
    response = api.get(SESSION.format(space_id=space.id, session_id=session.id))
    assert_conforms(response, "GET", SESSION)
