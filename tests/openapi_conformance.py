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
    if response.content:
        undocumented = undocumented_keys(json.loads(response.content), method, path, response.status_code)
        assert not undocumented, (f"{method} {path} {response.status_code} answers keys its document does not "
                                  f"name: {sorted(undocumented)}")


def undocumented_keys(body, method: str, path: str, status: int) -> set:
    """The keys of the JSON answer `body` (of each item, for a list) that the schema documented for `status`
    does not name, where it names them."""
    responses = served_schema()["paths"][path][method.lower()]["responses"]
    content = responses.get(str(status), {}).get("content", {}).get("application/json")
    documented = _documented_keys(content["schema"]) if content else None
    if documented is None:
        return set()
    return {key for item in (body if isinstance(body, list) else [body]) if isinstance(item, dict)
            for key in item if key not in documented}


def _documented_keys(schema: dict) -> set | None:
    """The keys an object answer may have by `schema` (the properties of each branch, through $ref, allOf,
    oneOf and array items); None when the schema leaves them open."""
    if "$ref" in schema:
        schema = served_schema()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if schema.get("type") == "array":
        return _documented_keys(schema.get("items", {}))
    branches = schema.get("allOf", []) + schema.get("oneOf", []) + schema.get("anyOf", [])
    if branches:
        keys = [_documented_keys(branch) for branch in branches]
        return None if None in keys else set().union(*keys)
    if "properties" not in schema or schema.get("additionalProperties"):
        return None
    return set(schema["properties"])
