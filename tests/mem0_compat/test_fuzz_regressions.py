"""What fuzzing from the OpenAPI document (tests/test_fuzz_schema.py) found on the mem0 routes, kept as
ordinary tests: each answer here once contradicted the document the server serves."""

import pytest

from tests.openapi_conformance import assert_conforms, served_schema

SPACE = "/api/v2/memory/{space_id}/"
MISSING = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(autouse=True)
def no_llm(settings):
    settings.LLM_MODEL = None


def url(space, template: str, **ids) -> str:
    return template.format(space_id=space.id, **ids)


def add(api, space, text="I deploy on Fridays", **fields) -> dict:
    body = {"messages": [{"role": "user", "content": text}], "user_id": "alice", "infer": False, **fields}
    response = api.post(url(space, SPACE + "v1/memories/"), body, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("route", ["v1/memories/{memory_id}/", "memories/{memory_id}/"])
def test_deleting_a_memory_answers_200_with_a_message_as_documented(api, space, route):
    """The document said 204 (no body); the server answers 200 `{"message"}`, which the mem0 client needs."""
    memory_id = add(api, space)["results"][0]["id"]
    response = api.delete(url(space, SPACE + route, memory_id=memory_id))
    assert response.status_code == 200 and "message" in response.json()
    assert_conforms(response, "DELETE", SPACE + route)


def test_deleting_an_entity_answers_200_as_documented(api, space):
    add(api, space)
    route = "v2/entities/{entity_type}/{name}/"
    response = api.delete(url(space, SPACE + route, entity_type="user", name="alice"))
    assert response.status_code == 200
    assert_conforms(response, "DELETE", SPACE + route)


def test_batch_delete_documents_its_body_and_its_200(api, space):
    memory_id = add(api, space)["results"][0]["id"]
    operation = served_schema()["paths"][SPACE + "v1/batch/"]["delete"]
    assert operation["requestBody"]["required"] is True
    response = api.delete(url(space, SPACE + "v1/batch/"), {"memories": [{"memory_id": memory_id}]}, format="json")
    assert response.status_code == 200
    assert_conforms(response, "DELETE", SPACE + "v1/batch/")


@pytest.mark.parametrize("route", ["v1/batch/", "v1/memories/batch/"])
def test_batch_delete_documents_seed_002s_memory_ids_as_the_other_name_of_memories(api, space, route):
    """Seed 002's curl sends `memory_ids`; the server took it, the document named only `memories`."""
    document = served_schema()
    body = document["paths"][SPACE + route]["delete"]["requestBody"]["content"]["application/json"]["schema"]
    schema = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    memories, memory_ids = schema["properties"]["memories"], schema["properties"]["memory_ids"]
    assert {**memory_ids, "description": None} == {**memories, "description": None}
    assert schema["oneOf"] == [{"required": ["memories"]}, {"required": ["memory_ids"]}]
    assert "required" not in schema
    memory_id = add(api, space)["results"][0]["id"]
    response = api.delete(url(space, SPACE + route), {"memory_ids": [{"memory_id": memory_id}]}, format="json")
    assert response.json() == {"message": "Successfully deleted 1 memories"}
    assert_conforms(response, "DELETE", SPACE + route)


@pytest.mark.parametrize(("body", "loc", "error_type"), [
    ({}, ["body", "memories"], "missing"),
    ({"memories": [{"memory_id": MISSING}], "memory_ids": [{"memory_id": MISSING}]}, ["body"], "value_error"),
])
def test_batch_delete_takes_its_list_under_exactly_one_name(api, space, body, loc, error_type):
    response = api.delete(url(space, SPACE + "v1/batch/"), body, format="json")
    assert response.status_code == 422
    assert [(error["loc"], error["type"]) for error in response.json()["detail"]] == [(loc, error_type)]
    assert_conforms(response, "DELETE", SPACE + "v1/batch/")


@pytest.mark.parametrize("route", ["v1/memories/", "v3/memories/add/", "memories/"])
def test_an_add_without_an_entity_id_is_a_documented_400(api, space, route):
    response = api.post(url(space, SPACE + route), {"messages": "hello", "infer": False}, format="json")
    assert response.status_code == 400
    assert_conforms(response, "POST", SPACE + route)


def test_getting_a_missing_memory_answers_a_documented_null(api, space):
    route = SPACE + "v1/memories/{memory_id}/"
    response = api.get(url(space, route, memory_id=MISSING))
    assert response.status_code == 200 and response.content == b"null"
    assert_conforms(response, "GET", route)


@pytest.mark.parametrize("fields", [{}, {"output_format": "v1.0"}, {"async_mode": True},
                                    {"async_mode": True, "output_format": "v1.0"}])
def test_every_shape_of_the_v1_add_answer_is_documented(api, space, fields):
    body = {"messages": [{"role": "user", "content": "Likes tea"}], "user_id": "alice", "infer": False, **fields}
    response = api.post(url(space, SPACE + "v1/memories/"), body, format="json")
    assert response.status_code == 200
    assert_conforms(response, "POST", SPACE + "v1/memories/")


@pytest.mark.parametrize("fields", [{}, {"async_mode": True}])
def test_the_v3_add_answer_is_documented_queued_or_not(api, space, fields):
    """`event_id` is null when the add ran at once: the document said it was always a uuid."""
    body = {"messages": [{"role": "user", "content": "Likes tea"}], "user_id": "alice", "infer": False, **fields}
    response = api.post(url(space, SPACE + "v3/memories/add/"), body, format="json")
    assert response.status_code == 200
    assert_conforms(response, "POST", SPACE + "v3/memories/add/")


@pytest.mark.parametrize("route", ["v1/memories/search/", "v2/memories/search/", "v3/memories/search/", "search/"])
@pytest.mark.parametrize("output_format", ["v1.0", "v1.1"])
def test_search_answers_in_both_output_formats_are_documented(api, space, route, output_format):
    add(api, space)
    body = {"query": "deploy", "user_id": "alice", "output_format": output_format}
    response = api.post(url(space, SPACE + route), body, format="json")
    assert response.status_code == 200
    assert isinstance(response.json(), list if output_format == "v1.0" else dict)
    assert_conforms(response, "POST", SPACE + route)


def test_export_create_and_get_answers_are_documented(api, space):
    add(api, space)
    schema = {"type": "object", "properties": {"memory": {"type": "string"}}}
    created = api.post(url(space, SPACE + "v1/exports/"), {"schema": schema, "user_id": "alice"}, format="json")
    assert created.status_code == 200
    assert_conforms(created, "POST", SPACE + "v1/exports/")
    export = api.post(url(space, SPACE + "v1/exports/get/"), {"memory_export_id": created.json()["id"]},
                      format="json")
    assert export.status_code == 200 and export.json()["memories"] == [{"memory": "I deploy on Fridays"}]
    assert_conforms(export, "POST", SPACE + "v1/exports/get/")


def test_feedback_and_configure_answers_are_documented(api, space):
    memory_id = add(api, space)["results"][0]["id"]
    feedback = api.post(url(space, SPACE + "v1/feedback/"), {"memory_id": memory_id, "feedback": "POSITIVE"},
                        format="json")
    assert feedback.status_code == 200
    assert_conforms(feedback, "POST", SPACE + "v1/feedback/")
    configure = api.post(url(space, SPACE + "configure/"), {"llm": {"config": {"model": "gpt-4o-mini"}}},
                         format="json")
    assert configure.status_code == 200
    assert_conforms(configure, "POST", SPACE + "configure/")


def test_path_parameters_are_documented_with_their_real_types(api, space):
    parameters = {p["name"]: p["schema"] for p in
                  served_schema()["paths"][SPACE + "v2/entities/{entity_type}/{name}/"]["delete"]["parameters"]}
    assert parameters["space_id"] == {"type": "string", "format": "uuid"}
    assert parameters["entity_type"]["enum"] == ["user", "agent", "app", "run"]
    response = api.delete(url(space, SPACE + "v2/entities/{entity_type}/{name}/", entity_type="team", name="x"))
    assert response.status_code == 422
    assert_conforms(response, "DELETE", SPACE + "v2/entities/{entity_type}/{name}/")


@pytest.mark.parametrize("llm", ["gpt-4o", {"config": "gpt-4o"}, {"config": ["m"]}, {"provider": 7}])
def test_configure_with_a_malformed_llm_is_422_not_500(api, space, llm):
    """`{"llm": {"config": "gpt-4o"}}` was a 500 (`str` has no `.get`)."""
    response = api.post(url(space, SPACE + "configure/"), {"llm": llm}, format="json")
    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["loc"][:2] == ["body", "llm"]
    assert_conforms(response, "POST", SPACE + "configure/")
    space.refresh_from_db()
    assert space.llm_model_name is None


def test_null_values_inside_metadata_and_filters_are_json_like_any_other(api, space):
    """Objects kept "exactly as received" refused `{"k": null}` with 422 (and filters `{"metadata": {"k": null}}`
    were refused the same way)."""
    results = add(api, space, metadata={"team": None, "tags": [None]})["results"]
    memory = api.get(url(space, SPACE + "v1/memories/{memory_id}/", memory_id=results[0]["id"])).json()
    assert memory["metadata"] == {"team": None, "tags": [None]}
    body = {"query": "deploy", "filters": {"user_id": "alice", "metadata": {"team": None}}}
    response = api.post(url(space, SPACE + "v3/memories/search/"), body, format="json")
    assert response.status_code == 200 and [hit["id"] for hit in response.json()["results"]] == [results[0]["id"]]
    assert_conforms(response, "POST", SPACE + "v3/memories/search/")
    updated = api.put(url(space, SPACE + "v1/memories/{memory_id}/", memory_id=results[0]["id"]),
                      {"metadata": {"team": None}}, format="json")
    assert updated.status_code == 200 and updated.json()["metadata"] == {"team": None}
