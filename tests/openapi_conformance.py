"""One answer checked against the OpenAPI document the server serves at /schema/: what the fuzz test
(tests/test_fuzz_schema.py) checks for every generated request, for the requests of ordinary tests."""

import functools
import json

import requests
import schemathesis


@functools.cache
def served_schema() -> dict:
    """The document of `GET /schema/?format=json`, from the app itself (no database needed)."""
    from django.test import Client

    response = Client().get("/schema/?format=json")
    assert response.status_code == 200, response.content[:500]
    return json.loads(response.content)


@functools.cache
def _loaded():
    return schemathesis.openapi.from_dict(served_schema())


def assert_conforms(response, method: str, path: str) -> None:
    """`response` (a Django test response) to `method` on `path` (the template as the document writes it,
    e.g. "/api/v2/memory/{space_id}/") has a documented status code, the JSON content type, and a body that
    matches the schema documented for that status."""
    operation = _loaded()[path][method.upper()]
    documented = sorted(served_schema()["paths"][path][method.lower()]["responses"])
    assert str(response.status_code) in documented, (response.status_code, documented, response.content[:300])
    if response.content:
        assert response["Content-Type"] == "application/json", response["Content-Type"]
    answer = schemathesis.Response(
        status_code=response.status_code, headers={key: [value] for key, value in response.items()},
        content=response.content, request=requests.Request(method.upper(), f"http://testserver{path}").prepare(),
        elapsed=0.0, verify=True,
    )
    operation.validate_response(answer)
