"""Answers the fuzzer (tests/test_fuzz_schema.py) rarely or never reaches, because they need a state its
generated requests do not build: conflicts, stale versions, the rate limit, bodies over the size limit, queued
adds, histories of edited memories. Each is checked against the OpenAPI document the server serves, keys
included (`assert_conforms` refuses keys the document does not name)."""

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
