"""System checks of the long-term memory, run by `migrate` (so by `make run` and the compose file before the
web processes start) and by `manage.py check --database default`; the embedder's settings by every command."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections

from mem0_compat.embeddings import check_embedder_setting
from mem0_compat.vector_column import embedder_mismatch

# `hnsw.iterative_scan` (settings.py), which lets a filtered HNSW scan go on until it has enough rows, came in
# pgvector 0.8.0; an older one ignores the setting, and large scopes would answer fewer hits than asked for.
PGVECTOR_NEEDED = (0, 8)


def pgvector_problem(versions: tuple[str, str | None] | None) -> str | None:
    """What is wrong with the server's pgvector, given its row of `pg_available_extensions` (default and
    installed version; None when the server has no pgvector), or None when nothing is."""
    needed = ".".join(map(str, PGVECTOR_NEEDED))
    if versions is None:
        return f"the PostgreSQL server has no pgvector extension (version {needed} or newer is needed)"
    default, installed = versions
    version = installed or default  # what the database has, else what CREATE EXTENSION would give it
    if tuple(int(part) for part in version.split(".")[:2]) < PGVECTOR_NEEDED:
        return f"the database's pgvector is {version}; {needed} or newer is needed"
    return None


@register(Tags.database)
def pgvector_is_there(app_configs, databases=None, **kwargs):
    """An error stops `migrate` with one line, before it fails halfway with a traceback."""
    if not databases or "default" not in databases:
        return []
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT default_version, installed_version FROM pg_available_extensions "
                           "WHERE name = 'vector'")
            versions = cursor.fetchone()
    except DatabaseError as error:
        return [Error(f"The database cannot be reached: {str(error).strip()}",
                      hint="Check DATABASE_URL, or unset it to use the embedded PostgreSQL.", id="mem0_compat.E001")]
    problem = pgvector_problem(versions)
    if problem is None:
        return []
    return [Error(f"Long-term memory needs pgvector: {problem}.",
                  hint="Install pgvector on the server (https://github.com/pgvector/pgvector#installation) and, "
                       "where the database has an older one, run `ALTER EXTENSION vector UPDATE`; or unset "
                       "DATABASE_URL to use the embedded PostgreSQL, which has it.",
                  id="mem0_compat.E002")]


@register(Tags.database)
def embedder_made_the_stored_vectors(app_configs, databases=None, **kwargs):
    """A warning, not an error: chat history works on, while every memory request answers 503 with the
    same explanation until `reembed` has run."""
    if not databases or "default" not in databases:
        return []
    try:
        mismatch = embedder_mismatch(connections["default"])
    except DatabaseError:
        return []  # pgvector_is_there reports an unreachable database
    if mismatch is None:
        return []
    return [Warning(f"Long-term memory requests will answer 503: {mismatch}.",
                    hint="Run `manage.py reembed` to re-embed every memory with the configured embedder, or "
                         "configure the one that made them.",
                    id="mem0_compat.W001")]


@register()
def embedder_can_be_made(app_configs, **kwargs):
    """An embedder the settings cannot make (an unknown provider, its library not installed, its key missing,
    dimensions it does not make) stops `migrate` with the reason: the service started, and every memory request
    of a database recording that embedder was a 500."""
    try:
        check_embedder_setting(settings.EMBEDDER)
    except ImproperlyConfigured as problem:
        return [Error(f"Long-term memory cannot embed: {problem}.",
                      hint="Set EMBEDDER (and EMBEDDING_DIMENSIONS) to an embedder this installation can make "
                           "(README: EMBEDDER).", id="mem0_compat.E003")]
    return []
