"""The base of the service's management commands that use its tables."""

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

# SQLSTATEs of a schema older than the code: a table or a column it does not have yet.
_NOT_MIGRATED = {"42P01", "42703"}


class DatabaseCommand(BaseCommand):
    """A command that reads or writes the service's tables. Run against a database not migrated yet (a new
    one, or one of an older version), or one that does not answer, it stops with one line saying so and what to
    do (CommandError: exit status 1), not Django's traceback of the first query."""

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except DatabaseError as exc:
            problem = _database_problem(exc)
            if problem is None:  # a bug: its traceback
                raise
            raise CommandError(problem) from None


def _database_problem(exc: DatabaseError) -> str | None:
    from config.api.errors import database_unavailable

    cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if getattr(exc.__cause__, "sqlstate", None) in _NOT_MIGRATED:
        return f"The database is not migrated to this version ({cause}): run `manage.py migrate` first."
    if database_unavailable(exc):
        return f"The database does not answer ({cause}): check DATABASE_URL, or start it, then run this again."
    return None
