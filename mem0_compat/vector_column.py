"""The embedding column: its dimension, fixed per deployment (an HNSW index needs one), and the embedder that
made its vectors, recorded as the column's comment. Both are set from settings at migrate time and changed
only by `manage.py reembed`. Vectors of two embedders must not meet: `minilm` and `minilm-int8` make vectors
of the same dimension that no type check would tell apart, and a search would rank one against the other."""

import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from django.conf import settings
from django.db import connection, transaction

from config.queries import session_advisory_lock

TABLE = "mem0_compat_memory"
HNSW_INDEX = "memory_embedding_hnsw"


def vector_literal(vector) -> str:
    """pgvector's text form of a vector; 9 significant digits give every float32 back exactly."""
    values = vector.tolist() if hasattr(vector, "tolist") else [float(value) for value in vector]
    return "[" + ",".join([f"{value:.9g}" for value in values]) + "]"


RECHECK_SECONDS = 60  # how long a process trusts that its embedder is the column's
REEMBEDDING = "re-embedding to "  # the comment's prefix from the start of a `reembed` until it has finished

# Taken by every transaction that writes vectors before it reads the record (WRITER_RECORD, in a later statement
# of that transaction): ROW EXCLUSIVE conflicts with the SHARE lock under which the record changes (`_comment`),
# so the record cannot change until the writer has committed, and a writer that comes while it changes waits
# and then reads the new record. (A write takes this lock anyway; taken first, before any row or advisory lock.)
LOCK_FOR_VECTOR_WRITES = f"LOCK TABLE {TABLE} IN ROW EXCLUSIVE MODE;"
# The record as a writer reads it, in SQL: the embedder, and whether the one given as %(embedder)s may write
# (no record, before migration 0003, is no refusal, as in `embedder_mismatch`).
WRITER_RECORD = f"""SELECT embedder, coalesce(embedder = %(embedder)s, true) AS may_write
                      FROM (SELECT col_description(attrelid, attnum) AS embedder FROM pg_attribute
                             WHERE attrelid = '{TABLE}'::regclass AND attname = 'embedding') AS record"""


def _column(conn) -> tuple[int | None, str | None] | None:
    """(declared dimension, comment) of `embedding`, or None before the table exists. pgvector stores the
    dimension as the type modifier."""
    with conn.cursor() as cursor:
        cursor.execute(
            """SELECT a.atttypmod, col_description(c.oid, a.attnum) FROM pg_attribute a
               JOIN pg_class c ON c.oid = a.attrelid
               WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace
                 AND a.attname = 'embedding'""",
            [TABLE],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return (row[0] if row[0] > 0 else None), row[1]


def column_dimensions(conn=connection) -> int | None:
    """The declared dimension of `embedding`, or None if unset."""
    return (_column(conn) or (None, None))[0]


def column_embedder(conn=connection) -> str | None:
    """The embedder recorded as the maker of the stored vectors (an `EMBEDDER` value), or None."""
    return (_column(conn) or (None, None))[1]


def record_embedder(name: str, conn=connection) -> None:
    """Record `name` as the embedder of every stored vector: once they all are its own."""
    _comment(name, conn)


def record_reembedding(name: str, conn=connection) -> None:
    """Record that the stored vectors are being re-embedded with `name`: until `record_embedder`, they are a
    mix of two embedders that matches no EMBEDDER, so an interrupted run is never taken for done."""
    _comment(REEMBEDDING + name, conn)


def _comment(text: str, conn) -> None:
    """Locking: SHARE on the table, which waits for the transactions writing vectors (LOCK_FOR_VECTOR_WRITES)
    to commit and holds off new ones until the record is committed: a vector is written under the record it
    was checked against. (COMMENT alone takes a lock no writer conflicts with.)"""
    literal = "'" + text.replace("'", "''") + "'"  # COMMENT takes no parameters; standard_conforming_strings
    with transaction.atomic(using=conn.alias), conn.cursor() as cursor:
        cursor.execute(f"LOCK TABLE {TABLE} IN SHARE MODE; COMMENT ON COLUMN {TABLE}.embedding IS {literal}")
    _matching.clear()


def embedder_mismatch(conn=connection) -> str | None:
    """Why this process's embedder (settings) may not write or search the stored vectors, or None."""
    column = _column(conn)
    if column is None:
        return None  # not migrated yet
    dimensions, embedder = column
    if dimensions != settings.EMBEDDING_DIMENSIONS:
        return (f"the embedding column holds {dimensions}-dimensional vectors, but EMBEDDER={settings.EMBEDDER} "
                f"with EMBEDDING_DIMENSIONS={settings.EMBEDDING_DIMENSIONS} makes "
                f"{settings.EMBEDDING_DIMENSIONS}-dimensional ones")
    return recorded_embedder_mismatch(embedder)


def recorded_embedder_mismatch(embedder: str | None) -> str | None:
    """Why this process's embedder may not write or search vectors whose record is `embedder`, or None."""
    if embedder is not None and embedder.startswith(REEMBEDDING):
        return (f"the stored vectors are being re-embedded with EMBEDDER={embedder.removeprefix(REEMBEDDING)}, "
                "or that `manage.py reembed` was interrupted: run it to the end")
    if embedder is not None and embedder != settings.EMBEDDER:
        return f"the stored vectors were made by EMBEDDER={embedder}, but this server has EMBEDDER={settings.EMBEDDER}"
    return None


def vector_write_mismatch(conn=connection) -> str | None:
    """Why this process's embedder may not write vectors now, or None: the record read afresh after
    LOCK_FOR_VECTOR_WRITES, never an earlier check's, and standing until the calling transaction ends (call it
    inside one, before its first write: in autocommit the lock would go at once)."""
    with conn.cursor() as cursor:
        cursor.execute(f"{LOCK_FOR_VECTOR_WRITES} {WRITER_RECORD}", {"embedder": settings.EMBEDDER})
        cursor.nextset()  # from the lock to the record
        return recorded_embedder_mismatch(cursor.fetchone()[0])


_matching: dict[tuple, float] = {}  # (EMBEDDER, EMBEDDING_DIMENSIONS) -> until when it is known to match


def embedder_mismatch_now() -> str | None:
    """`embedder_mismatch`, trusted for RECHECK_SECONDS once it found none: a request pays one catalog query a
    minute; a mismatch is looked up again every time, so that the process serves again as soon as `reembed`
    has run. Enough for a search (a stale match ranks mixed vectors once, and stores nothing) and to refuse a
    write early; a write also checks in its own transaction (LOCK_FOR_VECTOR_WRITES), since a vector written
    during a `reembed` that has already passed its row would stay."""
    key = (settings.EMBEDDER, settings.EMBEDDING_DIMENSIONS)
    if time.monotonic() < _matching.get(key, 0.0):
        return None
    mismatch = embedder_mismatch()
    if mismatch is None:
        _matching[key] = time.monotonic() + RECHECK_SECONDS
    return mismatch


def set_dimensions(dimensions: int, conn=connection) -> None:
    """Make `embedding` a vector(dimensions) with an HNSW cosine index. Existing embeddings of another
    dimension are cleared (re-embed them afterwards)."""
    with conn.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {HNSW_INDEX}")
        if column_dimensions(conn) != dimensions:
            cursor.execute(f"UPDATE {TABLE} SET embedding = NULL WHERE vector_dims(embedding) <> %s", [dimensions])
            cursor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN embedding TYPE vector({int(dimensions)})")
        cursor.execute(
            f"CREATE INDEX {HNSW_INDEX} ON {TABLE} USING hnsw (embedding vector_cosine_ops) "
            "WITH (m = 16, ef_construction = 64)"
        )


# Held by a `reembed` for its whole run (a session-level advisory lock). Two runs at once would each record their
# own embedder at the end, over vectors that are partly the other's.
REEMBED_LOCK_KEY = 5_182_771_904_316_850_247


def reembed_lock(*, waiting: Callable[[], object]) -> AbstractContextManager[None]:
    """Held for a `reembed` run; calls `waiting` first when another run holds it, then waits for that run."""
    return session_advisory_lock(REEMBED_LOCK_KEY, waiting=waiting)
