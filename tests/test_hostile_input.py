"""Hostile input gets a clear 4xx with a JSON body, and nothing partial is written."""

import io
import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import pytest
from rest_framework.exceptions import ValidationError

from config.api.serializers import check_json
from mem0_compat.models import Memory
from memoryspaces.models import MemorySpace
from memoryspaces.throttling import ApiKeyRateThrottle
from sessions_app.models import Event, Session

USER = {"type": "user", "id": "u"}


@pytest.fixture(autouse=True)
def no_llm(settings):
    settings.LLM_MODEL = None


def events_url(session):
    return f"/api/v2/memory/{session.space_id}/sessions/{session.id}/events/"


def post_raw(api, url, raw: bytes, content_type="application/json"):
    return api.generic("POST", url, raw, content_type=content_type)


def assert_json_error(response, status):
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json()


def test_a_body_over_the_limit_is_413_before_it_is_read(api, session, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = post_raw(api, events_url(session), json.dumps({"body": {"content": "x" * 5000},
                                                              "emitter": USER}).encode())
    assert_json_error(response, 413)
    assert not Event.objects.exists()


def gunicorn_request(api_key, method, url, raw: bytes) -> tuple[int, dict]:
    """`raw` sent chunked, through the whole Django stack, with the WSGI environment gunicorn builds for it:
    no CONTENT_LENGTH, the body de-chunked, `wsgi.input_terminated` set (the test client cannot omit the
    length). Returns the status and the JSON answer."""
    from wsgiref.util import setup_testing_defaults

    from django.core.handlers.wsgi import WSGIHandler
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    path, _, query = url.partition("?")
    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "wsgi.input": io.BytesIO(raw),
               "wsgi.input_terminated": True, "CONTENT_TYPE": "application/json",
               "HTTP_TRANSFER_ENCODING": "chunked", "HTTP_AUTHORIZATION": f"Token {api_key}"}
    setup_testing_defaults(environ)
    started = {}
    # as the test client does: the test's transaction lives on the connection a request would close
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        body = b"".join(WSGIHandler()(environ, lambda status, headers: started.update(status=status)))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return int(started["status"].split()[0]), json.loads(body)


def test_a_chunked_body_is_read_not_taken_for_an_empty_one(api_key, space):
    """gunicorn (`make run`) passes a chunked body without a Content-Length: Django read none of it, so a
    PATCH changed nothing and answered 200, and an add was refused for want of messages."""
    status, answer = gunicorn_request(api_key, "PATCH", f"/api/v2/memory/{space.id}/", b'{"description": "new"}')
    assert (status, answer["description"]) == (200, "new")
    status, answer = gunicorn_request(api_key, "POST", f"/api/v2/memory/{space.id}/v1/memories/",
                                      b'{"messages": "I like tea", "user_id": "u", "infer": false}')
    assert status == 200 and answer["results"][0]["memory"] == "I like tea"


def test_a_chunked_body_over_the_limit_is_413(api_key, space, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    status, answer = gunicorn_request(api_key, "PATCH", f"/api/v2/memory/{space.id}/",
                                      json.dumps({"description": "x" * 2000}).encode())
    assert status == 413 and "too large" in answer["detail"]
    space.refresh_from_db()
    assert space.description != "x" * 2000


def test_deeply_nested_json_is_422(api, session):
    nested = "[" * 100_000 + "]" * 100_000
    assert_json_error(post_raw(api, events_url(session), nested.encode()), 422)
    deep_body = {"content": "x", "extra": json.loads("[" * 40 + "]" * 40)}
    response = api.post(events_url(session), {"body": deep_body, "emitter": USER}, format="json")
    assert_json_error(response, 422)
    assert not Event.objects.exists()


def test_huge_metadata_within_the_body_limit_is_refused_whole(api, space):
    """Within the request limit, past METADATA_MAX_BYTES (tests/*/test_size_bounds.py): a 422, nothing stored."""
    metadata = {f"k{i}": "v" * 100 for i in range(20_000)}  # ~2.4 MB
    response = api.post(f"/api/v2/memory/{space.id}/sessions/", {"participants": ["p"], "metadata": metadata},
                        format="json")
    assert_json_error(response, 422)
    assert response.json()["detail"][0]["loc"] == ["body", "metadata"]
    assert not Session.objects.exists()


@pytest.mark.parametrize("raw", [b'{"body": {"content": "\xff\xfe"}, "emitter": {"type": "user"}}',
                                 b'{"body": {"content": "x"}, "emitter": ', b"not json at all", b"\x00\x00"])
def test_invalid_utf8_and_broken_json_are_422(api, session, raw):
    assert_json_error(post_raw(api, events_url(session), raw), 422)
    assert not Event.objects.exists()


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "text/*", ""])
def test_every_answer_is_json_whatever_the_accept_header_says(api, space, accept):
    """The contract: always JSON. DRF answered 406 to an Accept it could not satisfy."""
    response = api.get(f"/api/v2/memory/{space.id}/v1/ping/", HTTP_ACCEPT=accept)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json" and response.json()["status"] == "ok"
    assert_json_error(api.get(f"/api/v2/memory/{space.id}/v1/memories/search/", HTTP_ACCEPT=accept), 405)


@pytest.mark.parametrize("value", ["xml", "api", "yaml"])
def test_a_format_query_parameter_neither_404s_nor_changes_the_answer(api, space, value):
    """DRF took `?format=` as a choice of renderer and answered 404 "Not found" to any but json."""
    response = api.get(f"/api/v2/memory/{space.id}/?format={value}")
    assert response.status_code == 200, response.content
    assert response.json()["memorySpaceId"] == str(space.id)


def test_a_json_body_without_a_content_type_is_read_as_json(api, space):
    """As JSONOrEmptyParser says: some clients omit the content type on small bodies."""
    response = api.generic("PATCH", f"/api/v2/memory/{space.id}/", '{"description": "d"}', content_type="")
    assert response.status_code == 200, response.content
    assert response.json()["description"] == "d"
    assert_json_error(api.generic("PATCH", f"/api/v2/memory/{space.id}/", "description=d",
                                  content_type="application/x-www-form-urlencoded"), 422)


@pytest.mark.parametrize("body", [
    {"body": {"content": "nul \x00 inside"}, "emitter": USER},
    {"body": {"content": "ok", "extra": "nul \x00"}, "emitter": USER},
    {"body": {"content": "ok", "k\x00": 1}, "emitter": USER},
    {"body": {"content": "ok"}, "emitter": {"type": "user", "id": "a\x00b"}},
])
def test_nul_characters_are_422_not_a_database_error(api, session, body):
    assert_json_error(api.post(events_url(session), body, format="json"), 422)
    assert not Event.objects.exists()


@pytest.mark.parametrize(("target", "raw", "code"), [
    # content is a TextField: DRF's CharField refuses surrogates there first
    ("events", '{"body": {"content": "\\ud800"}, "emitter": {"type": "user"}}', "surrogate_characters_not_allowed"),
    ("events", '{"body": {"content": "x", "extra": ["ok", "\\udc00"]}, "emitter": {"type": "user"}}', "surrogate"),
    ("events", '{"body": {"content": "x", "\\udc00": 1}, "emitter": {"type": "user"}}', "surrogate"),
    ("events", '{"body": {"content": "x", "n": 1e999}, "emitter": {"type": "user"}}', "not_finite"),
    ("events", '{"body": {"content": "x", "n": [-1e999]}, "emitter": {"type": "user"}}', "not_finite"),
    ("sessions", '{"participants": ["p"], "metadata": {"a": "\\ud800"}}', "surrogate"),
    ("sessions", '{"participants": ["p"], "metadata": {"\\udfff": "a"}}', "surrogate"),
])
def test_lone_surrogates_and_infinite_numbers_are_422_not_a_database_error(api, session, target, raw, code):
    """PostgreSQL cannot store either ("\\ud800" is not UTF-8; jsonb has no Infinity): these were 500s."""
    url = events_url(session) if target == "events" else f"/api/v2/memory/{session.space_id}/sessions/"
    response = post_raw(api, url, raw.encode())
    assert_json_error(response, 422)
    assert code in [error["type"] for error in response.json()["detail"]]
    assert not Event.objects.exists() and Session.objects.count() == 1


@pytest.mark.parametrize(("route", "raw", "loc"), [
    # messages that quote the input (a choice) or name it (an unknown key of a strict body)
    ("{space}/v1/memories/", '{"messages": "hi", "user_id": "u", "output_format": "v1.1\\ud800"}',
     ["body", "output_format"]),
    ("{space}/v1/feedback/", '{"memory_id": "%s", "feedback": "POSITIVE\\ud800"}' % uuid.uuid4(),  # noqa: UP031
     ["body", "feedback"]),
    ("{space}/sessions/", '{"participants": ["p"], "lifecycleStrategies": [{"type": "ttl\\ud800", "trigger": {}}]}',
     ["body", "lifecycleStrategies", 0, "type"]),
    ("{space}/sessions/", '{"participants": ["p"], "\\ud800": 1}', ["body", "\ud800"]),
    ("new/", '{"description": "d", "k\\udfff": 1}', ["body", "k\udfff"]),
])
def test_an_error_that_quotes_a_lone_surrogate_is_a_422_not_a_500(api, space, route, raw, loc):
    """The answer escapes it (`\\ud800`): written as UTF-8, as JSON answers are, it would not encode."""
    response = post_raw(api, "/api/v2/memory/" + route.format(space=space.id), raw.encode())
    assert_json_error(response, 422)
    assert loc in [error["loc"] for error in response.json()["detail"]]
    assert not Session.objects.exists() and not Memory.objects.exists()


@pytest.mark.parametrize(("value", "code"), [
    ("a\ud800b", "surrogate"), ({"k": ["\udc00"]}, "surrogate"), ({"\ud800": 1}, "surrogate"),
    (float("inf"), "not_finite"), ([float("nan")], "not_finite"), ({"k": -float("inf")}, "not_finite"),
    ({1: "a"}, "key_type"), ({("a",): 1}, "key_type"), ({"k": {None: 1}}, "key_type"),
    ((1, 2), "json_type"), ({"k": {1, 2}}, "json_type"), ([b"x"], "json_type"), ({"k": 1j}, "json_type"),
])
def test_check_json_refuses_what_jsonb_cannot_hold(value, code):
    """Also what `ast.literal_eval` gives beside JSON (tuples, sets, bytes, complex numbers, other keys)."""
    with pytest.raises(ValidationError) as raised:
        check_json(value)
    assert raised.value.get_codes() == [code]


def test_check_json_accepts_every_json_type():
    check_json({"s": "é ✓ 😀", "i": -(10**40), "f": 1.5e300, "t": True, "n": None, "l": [[], {}], "": ""})


def test_nul_in_memory_text_and_metadata_is_422(api, space):
    root = f"/api/v2/memory/{space.id}/"
    for body in ({"messages": [{"role": "user", "content": "a\x00"}], "user_id": "u", "infer": False},
                 {"messages": "ok", "user_id": "u", "infer": False, "metadata": {"x": "\x00"}}):
        assert_json_error(api.post(root + "v3/memories/add/", body, format="json"), 422)
    assert not Memory.objects.exists()


def test_ten_thousand_events_in_one_batch_are_refused_whole(api, session):
    response = api.post(events_url(session) + "batch/",
                        {"events": [{"body": {"content": "x"}, "emitter": USER}] * 10_000}, format="json")
    assert_json_error(response, 422)
    assert not Event.objects.exists()


@pytest.mark.parametrize("query", ["offset=-1", "offset=99999999999999999999", "limit=-5", "limit=1000000",
                                   "lastN=-3", "lastN=99999999999", "offset=1e3", "limit=%00"])
def test_negative_and_huge_paging_is_422(api, session, query):
    assert_json_error(api.get(events_url(session) + "?" + query), 422)


@pytest.mark.parametrize("path", ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%00", "1%27%20OR%201=1--",
                                  "00000000-0000-0000-0000-000000000000%00"])
def test_path_traversal_and_junk_in_ids_are_4xx(api, space, path):
    for url in (f"/api/v2/memory/{path}/", f"/api/v2/memory/{space.id}/sessions/{path}/",
                f"/api/v2/memory/{space.id}/v1/memories/{path}/"):
        response = api.get(url)
        assert 400 <= response.status_code < 500, (url, response.status_code)
        assert response["Content-Type"] == "application/json"


INJECTIONS = ["' OR 1=1 --", "'; DROP TABLE mem0_compat_memory; --", "%", "_", "\\", "$$", "*/", "' || pg_sleep(5) --"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_sql_looking_strings_in_every_filter_field_are_data(api, space, value):
    root = f"/api/v2/memory/{space.id}/"
    api.post(root + "v3/memories/add/", {"messages": "Likes tea", "user_id": "alice", "infer": False},
             format="json")
    filters = [{"user_id": value}, {"agent_id": {"in": [value]}}, {"run_id": {"icontains": value}},
               {"app_id": {"ne": value}}, {"metadata": {value: value}}, {"categories": {"contains": value}},
               {"keywords": {"icontains": value}}, {"created_at": {"gte": value}}, {"memory_ids": [value]}]
    for condition in filters:
        response = api.post(root + "v3/memories/", {"filters": {"AND": [{"user_id": "alice"}, condition]}},
                            format="json")
        assert response.status_code in (200, 422), (condition, response.status_code)
        if response.status_code == 200:
            expected = 1 if "ne" in str(condition) else 0
            assert response.json()["count"] == expected, condition
    assert Memory.objects.count() == 1 and MemorySpace.objects.filter(pk=space.pk).exists()


@pytest.mark.parametrize("operator", ["$where", "regex", "raw", "__class__", "exact", "in;DROP"])
def test_unknown_filter_operators_are_422(api, space, operator):
    response = api.post(f"/api/v2/memory/{space.id}/v3/memories/search/",
                        {"query": "x", "filters": {"user_id": {operator: "a"}}}, format="json")
    assert_json_error(response, 422)


def test_rate_limit_answers_429_with_retry_after(api, monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "3/minute"})
    statuses = [api.get("/api/v2/memory/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    refused = api.get("/api/v2/memory/")
    assert_json_error(refused, 429)
    assert 0 < int(refused["Retry-After"]) <= 61


def test_the_rate_limit_is_per_key(api, other_api, monkeypatch):
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "1/minute"})
    assert api.get("/api/v2/memory/").status_code == 200
    assert api.get("/api/v2/memory/").status_code == 429
    assert other_api.get("/api/v2/memory/").status_code == 200


def test_a_lost_rate_limiter_lets_requests_through(api, monkeypatch, settings):
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "1/minute"})
    monkeypatch.setattr(ApiKeyRateThrottle, "cache", _BrokenCache())
    assert [api.get("/api/v2/memory/").status_code for _ in range(3)] == [200, 200, 200]


class _BrokenCache:
    def get(self, *args, **kwargs):
        raise ConnectionError("redis is down")

    add = incr = set = get


def test_concurrent_requests_of_one_key_never_pass_the_limit(monkeypatch):
    """Requests of one key arriving together (several workers, threads) are counted one by one: none may read
    the count before another has added itself to it."""
    monkeypatch.setattr(ApiKeyRateThrottle, "THROTTLE_RATES", {"api_key": "5/minute"})
    # a key of its own, whose counter no other test or run has started (the tests' keys are random likewise)
    request, together = SimpleNamespace(auth=SimpleNamespace(prefix=uuid.uuid4().hex[:8])), threading.Barrier(20)

    def attempt(_):
        throttle = ApiKeyRateThrottle()
        together.wait()
        return throttle.allow_request(request, None)

    with ThreadPoolExecutor(20) as pool:
        allowed = list(pool.map(attempt, range(20)))
    assert allowed.count(True) == 5
