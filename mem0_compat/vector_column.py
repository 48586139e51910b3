"""The embedding column's dimension: fixed per deployment, set from settings at migrate time and changed only
by `manage.py reembed` (an HNSW index needs a fixed dimension)."""

from django.db import connection

TABLE = "mem0_compat_memory"
HNSW_INDEX = "memory_embedding_hnsw"


def vector_literal(vector) -> str:
    """pgvector's text form of a vector; 9 significant digits give every float32 back exactly."""
    values = vector.tolist() if hasattr(vector, "tolist") else [float(value) for value in vector]
    return "[" + ",".join([f"{value:.9g}" for value in values]) + "]"


def column_dimensions(conn=connection) -> int | None:
    """The declared dimension of `embedding` (pgvector stores it as the type modifier), or None if unset."""
    with conn.cursor() as cursor:
        cursor.execute(
            """SELECT a.atttypmod FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
               WHERE c.relname = %s AND a.attname = 'embedding'""",
            [TABLE],
        )
        row = cursor.fetchone()
    return row[0] if row and row[0] > 0 else None


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
