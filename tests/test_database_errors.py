"""A database error answers by its cause: the request's own data that the database refuses (the same request
would fail the same way) is a 422, a statement the database stopped a 503 without Retry-After, and a database
that is gone, overloaded or read-only a 503 with Retry-After. Each error below is PostgreSQL's own, raised by
a statement run where the route's service would write."""

import pytest
from django.db import connection, transaction

from sessions_app import services
from tests.factories import make_session

EVENT = {"body": {"content": "hello"}, "emitter": {"type": "user", "id": "u"}}
# A tsvector may hold 1 MB of lexemes: 40,000 distinct words of 32 characters are more.
TSVECTOR_OVER_1_MB = "SELECT to_tsvector('simple', string_agg(md5(i::text), ' ')) FROM generate_series(1, 40000) AS i"


def failing_with(sql: str):
    def service(**kwargs):
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    return service


def append_failing_with(api, space, monkeypatch, sql: str):
    """An append of an event, its service running `sql` where it would write."""
    session = make_session(space)
    monkeypatch.setattr(services, "event_append_batch", failing_with(sql))
    return api.post(f"/api/v2/memory/{space.id}/sessions/{session.id}/events/", EVENT, format="json")


@pytest.mark.parametrize(("sql", "entry_type"), [
    # program_limit_exceeded (54000): was a 503 "retry in 5 s"
    pytest.param(TSVECTOR_OVER_1_MB, "too_long", id="tsvector-over-1-MB"),
    pytest.param("SELECT 'forty'::integer", "value_error", id="not-an-integer"),  # data exception (22P02): a 500
])
def test_data_the_database_refuses_is_a_422_without_retry_after(api, space, monkeypatch, sql, entry_type):
    response = append_failing_with(api, space, monkeypatch, sql)
    assert response.status_code == 422, response.content
    assert "Retry-After" not in response
    [entry] = response.json()["detail"]
    assert entry["loc"] == ["body"] and entry["type"] == entry_type


def test_a_statement_the_database_stopped_is_a_503_without_retry_after(api, space, monkeypatch):
    """statement_timeout (57014): the same request may well take as long again, so no retry is promised."""
    response = append_failing_with(api, space, monkeypatch, "SET LOCAL statement_timeout = 1; SELECT pg_sleep(1)")
    assert response.status_code == 503, response.content
    assert "Retry-After" not in response
    assert "statement timeout" in response.json()["detail"]


def test_a_read_only_database_is_a_503_with_retry_after(api, space, monkeypatch):
    """A standby, as during a failover (25006): it passes. It was a 500."""
    response = append_failing_with(api, space, monkeypatch,
                                   "SET LOCAL transaction_read_only = on; CREATE TABLE never_made (id int)")
    assert response.status_code == 503, response.content
    assert response["Retry-After"] == "5"


def test_on_a_read_the_refused_data_is_the_query(api, space, monkeypatch):
    from sessions_app import selectors

    monkeypatch.setattr(selectors, "session_list", failing_with("SELECT 'forty'::integer"))
    response = api.get(f"/api/v2/memory/{space.id}/sessions/")
    assert response.status_code == 422, response.content
    assert [entry["loc"] for entry in response.json()["detail"]] == [["query"]]
