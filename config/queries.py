"""Query helpers shared by the apps' selectors and services."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Field, Model, Q, QuerySet
from django.db.models.sql import Query


def one_or_none(queryset: QuerySet) -> Model | None:
    """The one row `queryset` (filtered down to at most one, as by a primary or unique key) selects, or None.
    `get()` rather than `first()`: first() orders the rows (by the model's ordering, else its primary key) to
    choose one, an ORDER BY the ORM builds and the database sorts by on every request, for a choice that
    cannot arise."""
    try:
        return queryset.get()
    except queryset.model.DoesNotExist:
        return None


def database_now() -> datetime:
    """The database's clock (the current statement's start): the one that stamps events' times (appends use
    statement_timestamp()), and so the one to compare them with, whatever the clock of the process asking."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement_timestamp()")
        return cursor.fetchone()[0]


def work_to_republish(model: type[Model], *, now: datetime, pending: str, running: str, pending_after: int,
                      running_after: int, limit: int) -> QuerySet:
    """Ids of queued work (rows with `status` and `updated_at`) whose Celery message may have been lost, oldest
    first, at most `limit`: `pending` for over `pending_after` seconds (its publish failed), or `running` for
    over `running_after` (its worker seems to have died)."""
    return (model.objects
            .filter(Q(status=pending, updated_at__lte=now - timedelta(seconds=pending_after))
                    | Q(status=running, updated_at__lte=now - timedelta(seconds=running_after)))
            .order_by("updated_at").values_list("pk", flat=True)[:limit])


# Written SQL, for the few reads on every request's path: the ORM spends most of such a lookup building and
# compiling the query (an API key with its user, measured in one process: 1.35 ms through the ORM, 0.57 ms
# written out, the instances included). The columns are the models' own, so the SQL follows the models.


def columns(model: type[Model], alias: str, fields: list[Field] | None = None) -> str:
    """`alias.column, ...` of `fields` (default: every concrete field of `model`), in order."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}"
                     for field in (model._meta.concrete_fields if fields is None else fields))


def instances(model: type[Model], rows, fields: list[Field] | None = None) -> list[Model]:
    """`model` instances from rows that begin with the columns of `fields` (default: every concrete field),
    in order, as `columns` selects them; the values converted as the ORM would (JSON, arrays, time zones).
    Columns after those are left to the caller."""
    fields = list(model._meta.concrete_fields if fields is None else fields)
    compiler = Query(model).get_compiler(connection.alias)
    converters = compiler.get_converters([field.get_col(model._meta.db_table) for field in fields])
    if converters:
        rows = compiler.apply_converters(rows, converters)
    names = [field.attname for field in fields]
    return [model.from_db(connection.alias, names, tuple(row[:len(names)])) for row in rows]


def fetch_all(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@contextmanager
def session_advisory_lock(key: int, *, waiting: Callable[[], object] | None = None) -> Iterator[None]:
    """PostgreSQL's session-level advisory lock `key`, held for the block across all its transactions (a long
    run of many short ones). When another session holds it, `waiting` (if given) is called, then this waits."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [key])
        if not cursor.fetchone()[0]:
            if waiting is not None:
                waiting()
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
