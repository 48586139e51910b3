"""Database faults that code under test runs into where it stands: its connection lost (as in a database restart),
on a read-only standby (as after a failover), the database gone altogether; and what a task publishes to be
done once it is back (`kept_unpublished`). Tests using them take the `connection_dropped_after` fixture."""

import socket
from collections.abc import Callable
from contextlib import contextmanager, suppress

from django.db import OperationalError, connection

LOSE_THE_CONNECTION = "SELECT pg_terminate_backend(pg_backend_pid())"
# Every write on this connection fails with 25006 from then on, as on a standby that a failover left it on.
ON_A_STANDBY = "SET default_transaction_read_only = on; CREATE TABLE never_made (id int)"


def run_statement(sql: str) -> None:
    """Run the statements of `sql` one by one (each its own transaction, in autocommit)."""
    with connection.cursor() as cursor:
        for statement in sql.split(";"):
            cursor.execute(statement)


def fails_once_with(sql: str, then: Callable) -> tuple[Callable, list]:
    """A stand-in for `then` that runs `sql` on its first call and is `then` afterwards; and the calls' kwargs."""
    calls = []

    def stand_in(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            run_statement(sql)
        return then(**kwargs)
    return stand_in, calls


@contextmanager
def database_going_away():
    """Yields a function that takes the database away for the rest of the block: the connection lost, and new
    ones sent to a closed port (refused)."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = closed.getsockname()[1]
    port = connection.settings_dict["PORT"]

    def go_away(**kwargs):
        connection.settings_dict["PORT"] = nowhere
        run_statement(LOSE_THE_CONNECTION)
    try:
        yield go_away
    finally:
        connection.settings_dict["PORT"] = port
        connection.close()


def going_away_after(then: Callable, go_away: Callable) -> Callable:
    """A stand-in for `then` that takes the database away (`database_going_away`) once `then` has returned: the
    work done, its end not yet recorded."""
    def stand_in(*args, **kwargs):
        done = then(*args, **kwargs)
        with suppress(OperationalError):  # the statement ending its own connection
            go_away()
        return done
    return stand_in


def kept_unpublished(monkeypatch, task) -> list[dict]:
    """The messages that code under test publishes for `task` (its args and options), kept here rather than
    sent to the broker, for the test to run them (`task.apply`) when it chooses."""
    kept = []
    monkeypatch.setattr(task, "apply_async", lambda args=None, kwargs=None, **options: kept.append(
        {"args": args, **options}))
    return kept
