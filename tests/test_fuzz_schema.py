"""Fuzzing from the contract: schemathesis generates requests for every operation of the OpenAPI document the
server serves at /schema/, sends them (authenticated) to a live server, and checks every answer against that
same document: no 500, a status code the operation declares, a body that matches the schema declared for it
and names no key it does not declare, the declared content type and headers.

- The document is the server's own: it is read from the app's `/schema/` endpoint when the tests are
  collected (so that each operation is a test of its own in the report), and
  `test_the_live_server_serves_the_document_fuzzed` checks that the live server serves exactly that.
- Bounded and reproducible: FUZZ_MAX_EXAMPLES examples per operation (positive and negative), derandomized.
  For a deeper run: `FUZZ_MAX_EXAMPLES=200 FUZZ_COVERAGE=1 pytest tests/test_fuzz_schema.py` (the coverage
  phase adds every boundary case the document defines; its count is not bounded); `FUZZ_SEED=N` draws other
  cases than CI's.
- Each operation runs on fresh objects (a space, a session with events, a memory, a queued add), and most
  cases name them in their path (and some bodies name the memory), so that they reach the code behind the
  404s. Deleting or resetting the space only affects the rest of that operation's own run.

What it found is kept as ordinary tests in tests/*/test_fuzz_regressions.py.
"""

import copy
import os

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.pytest.plugin import SchemathesisFunction
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import MemorySpaceFactory, UserFactory, make_api_key, make_session
from tests.openapi_conformance import served_schema, undocumented_keys

FUZZ_MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "25"))


@schemathesis.check
def documented_keys_only(ctx, response, case):
    """No answer key the document does not name (its response schemas are open objects: the schema check
    lets any extra key through)."""
    if response.content and response.headers.get("content-type", [""])[0] == "application/json":
        undocumented = undocumented_keys(response.json(), case.method, case.operation.path, response.status_code)
        assert not undocumented, f"answer keys the document does not name: {sorted(undocumented)}"


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, documented_keys_only]
EVENTS = 5
# The longest URL an HTTP server takes before the app sees the request: the test server's request line stops at
# 64 KiB (414), gunicorn's at 8 KiB (414, gunicorn.conf.py). Cases above it (long query strings of 4-byte
# characters) are skipped.
MAX_REQUEST_LINE = 8190

schema = schemathesis.openapi.from_dict(copy.deepcopy(served_schema()), config=schemathesis.Config.from_dict({
    "seed": int(os.environ.get("FUZZ_SEED", "20240501")),
    "phases": {"coverage": {"enabled": os.environ.get("FUZZ_COVERAGE") == "1"}, "stateful": {"enabled": False}},
    # The key is sent with every call (below); generating the security header would only test the 401s.
    "generation": {"max-examples": FUZZ_MAX_EXAMPLES, "deterministic": True, "with-security-parameters": False},
}))


def _own_node_id(init):
    """pytest >= 9.2 builds a test's node id from `originalname`, which schemathesis 4 sets to the bare function
    name: every operation would be reported as `test_fuzz`. Name each one `test_fuzz[METHOD /path]`."""

    def __init__(self, *args, **kwargs):
        if kwargs.get("callspec") is None and kwargs.get("name"):
            kwargs["originalname"] = kwargs["name"]
        init(self, *args, **kwargs)

    return __init__


if not getattr(SchemathesisFunction.__init__, "own_node_id", False):
    SchemathesisFunction.__init__ = _own_node_id(SchemathesisFunction.__init__)
    SchemathesisFunction.__init__.own_node_id = True

# The ids of the objects made for the operation being fuzzed (set by the `real_objects` fixture).
REAL: dict[str, str] = {}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """Most cases name the real objects in their path; the others keep what was generated (404 or 422)."""
    real = {name: REAL[name] for name in path_parameters or () if name in REAL}
    if not real:
        return st.just(path_parameters)
    return st.integers(0, 9).map(lambda i: {**path_parameters, **real} if i < 8 else path_parameters)


@schema.hook
def flatmap_body(context, body):
    """Half of the JSON object bodies name the real memory (`memory_id`, also inside `memories` or
    `memory_ids`) and the real entity (`user_id`), so that feedback, batch edits and searches find something."""
    if not isinstance(body, dict) or not REAL:
        return st.just(body)
    return st.booleans().map(lambda real: _with_real_ids(body) if real else body)


def _with_real_ids(body: dict) -> dict:
    body = dict(body)
    if "memory_id" in body:
        body["memory_id"] = REAL["memory_id"]
    if "user_id" in body:
        body["user_id"] = "alice"
    for key in ("memories", "memory_ids"):
        if isinstance(body.get(key), list):
            body[key] = [{**item, "memory_id": REAL["memory_id"]} if isinstance(item, dict) else item
                         for item in body[key]]
    return body


@pytest.fixture
def real_objects(transactional_db):
    """A user and their key; in one of their spaces a session with events, a memory of alice, a queued add.
    Yields the key."""
    from mem0_compat import services as mem0
    from mem0_compat.models import AddRequest
    from sessions_app.services import event_append_batch

    user = UserFactory()
    key = make_api_key(user)
    space = MemorySpaceFactory(owner=user)
    session = make_session(space)
    event_append_batch(session=session, events=[
        {"body": {"content": f"message {n}"}, "emitter": {"type": "user", "id": "u1"}, "event_type": "message"}
        for n in range(EVENTS)
    ])
    (added,) = mem0.memory_add(space=space, messages=[{"role": "user", "content": "I deploy on Fridays"}],
                               scope={"user_id": "alice"}, infer=False)
    queued = AddRequest.objects.create(space=space, payload={"messages": "hi", "user_id": "alice"})
    REAL.update({"space_id": str(space.pk), "session_id": str(session.pk), "sequence_id": str(EVENTS - 1),
                 "memory_id": str(added["id"]), "event_id": str(queued.pk), "entity_type": "user",
                 "name": "alice"})
    yield key
    REAL.clear()


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


@pytest.mark.django_db(transaction=True)
@schema.parametrize()
@hypothesis.settings(max_examples=FUZZ_MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                            HealthCheck.function_scoped_fixture])
def test_fuzz(case, live_server, real_objects, http):
    if _request_line_bytes(case, live_server.url) > MAX_REQUEST_LINE:
        return  # refused by the HTTP server in front of the app (414 / 400), never seen by the app
    case.call_and_validate(base_url=live_server.url, session=http, checks=CHECKS,
                           headers={"Authorization": f"Token {real_objects}"})


def _request_line_bytes(case, base_url: str) -> int:
    kwargs = case.as_transport_kwargs(base_url=base_url)
    return len(requests.Request(case.method, kwargs["url"], params=kwargs.get("params")).prepare().url)


@pytest.mark.django_db(transaction=True)
def test_the_live_server_serves_the_document_fuzzed(live_server):
    response = requests.get(f"{live_server.url}/schema/?format=json", timeout=30)
    assert response.status_code == 200
    assert response.json() == served_schema()
