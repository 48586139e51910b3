"""Reads of long-term memory. Callers pass a space they already checked the caller may see."""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from django.conf import settings
from django.contrib.postgres.search import SearchQuery
from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.models import Count, F, Max, Min, Q, QuerySet, Value
from django.utils import timezone
from pgvector.psycopg.vector import VectorBinaryDumper

from config.queries import fetch_all, instances, one_or_none, work_to_republish
from mem0_compat.models import ENTITY_FIELDS, AddRequest, Memory, MemoryHistory
from mem0_compat.vector_column import vector_literal
from memoryspaces.models import MemorySpace

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def memories_of(*, space: MemorySpace, filters: Q | None = None, show_expired: bool = False) -> QuerySet[Memory]:
    """Live memories of the space matching `filters`; expired ones hidden unless asked for. One `filter`
    call: each one clones the query, and a search builds this on every request."""
    wanted = Q(space=space)
    if filters is not None:
        wanted &= filters
    if not show_expired:
        wanted &= _unexpired()
    return Memory.objects.alive().filter(wanted)


def _unexpired() -> Q:
    return Q(expiration_date__isnull=True) | Q(expiration_date__gte=timezone.localdate())


# The columns no answer shows: the vector and the tsvector are for searching. Left unread, a page of 100
# memories took 7.1 ms to read and serialize instead of 18.8 (parsing 100 vectors of 384 numbers).
UNSHOWN_FIELDS = ("embedding", "search_vector")


def memory_list(*, space: MemorySpace, filters: Q | None = None, show_expired: bool = False) -> QuerySet[Memory]:
    """Newest first, stable (ties broken by id), without UNSHOWN_FIELDS."""
    memories = memories_of(space=space, filters=filters, show_expired=show_expired)
    return memories.defer(*UNSHOWN_FIELDS).order_by("-created_at", "-id")


def memory_get(*, space: MemorySpace, memory_id: uuid.UUID) -> Memory | None:
    """Without UNSHOWN_FIELDS."""
    return one_or_none(Memory.objects.alive().defer(*UNSHOWN_FIELDS).filter(space=space, pk=memory_id))


def memory_history(*, space: MemorySpace, memory_id: uuid.UUID) -> QuerySet[MemoryHistory]:
    return (MemoryHistory.objects.filter(space=space, memory_id=memory_id).select_related("source")
            .order_by("created_at", "id"))


def add_request_get(*, space: MemorySpace, request_id: uuid.UUID) -> AddRequest | None:
    """The add queued with async_mode in this space under this id (its event_id), or None."""
    return one_or_none(AddRequest.objects.filter(space=space, pk=request_id))


def scope_filter(scope: dict) -> Q:
    """Exactly the entity scope `scope` names: its user/agent/app/run ids, and no id it does not name. Memories
    are scoped by all four, never mixed: a run's memories do not stand in for its user's own (an add at the
    user's level must not be answered NONE by a fact only that run holds)."""
    return Q(**{field: scope.get(field) or None for field in ENTITY_FIELDS})


def text_query(query: str) -> SearchQuery | None:
    """An OR of the query's words: questions rarely repeat every word of the memory that answers them.
    Words are reduced to letters and digits, so the raw tsquery syntax cannot be injected."""
    words = _WORD.findall(query.lower())[:64]
    if not words:
        return None
    return SearchQuery(" | ".join(words), search_type="raw", config="english")


@dataclass
class Hit:
    memory: Memory
    score: float
    vector_similarity: float
    text_rank: float


def _scope_where(scope: QuerySet[Memory]) -> tuple[str, list]:
    """The WHERE clause of `scope` (a filtered QuerySet of Memory, no joins) as SQL over the unaliased table."""
    query = scope.query
    if sum(1 for count in query.alias_refcount.values() if count) > 1:
        raise ValueError("memory_search scopes must not join other tables")
    sql, params = query.get_compiler(using=scope.db).compile(query.where)
    return sql, list(params)


def _pinned_entity_ids(filters: Q | None) -> dict[str, str]:
    """The entity ids `filters` pins by plain equality in its top-level AND (as compile_filters writes them);
    its other children are Q objects, (lookup, value) pairs and lookup expressions such as a metadata key's
    comparison."""
    pinned: dict[str, str] = {}
    if filters is None or filters.negated or filters.connector != Q.AND:
        return pinned
    for child in filters.children:
        if isinstance(child, Q):
            pinned = {**_pinned_entity_ids(child), **pinned}
        elif isinstance(child, tuple) and child[0] in ENTITY_FIELDS and isinstance(child[1], str):
            pinned.setdefault(child[0], child[1])
    return pinned


_scope_sizes: dict[tuple, tuple[int, float]] = {}
SCOPE_SIZE_SECONDS = 60
SCOPE_SIZE_ENTRIES = 10_000


def _bound_sql(pinned: dict[str, str]) -> str:
    """How many memories (deleted ones too) the space holds for these entity ids, counted up to a limit from
    the (space, entity) btree alone: an upper bound on the size of any scope with those ids."""
    conditions = "".join(f" AND {field} = %s" for field in pinned)  # field names from ENTITY_FIELDS only
    return f"SELECT count(*) FROM (SELECT 1 FROM mem0_compat_memory WHERE space_id = %s{conditions} LIMIT %s) AS scope"


def _known_size(key: tuple) -> int | None:
    size, until = _scope_sizes.get(key, (0, 0.0))
    return size if time.monotonic() < until else None


def _remember_size(key: tuple, size: int) -> None:
    """Remembered for a minute per process: a scope that grew or shrank meanwhile is searched by the other
    method, as correctly."""
    if len(_scope_sizes) >= SCOPE_SIZE_ENTRIES:
        _scope_sizes.clear()
    _scope_sizes[key] = (size, time.monotonic() + SCOPE_SIZE_SECONDS)


def _scope_size_bound(space: MemorySpace, pinned: dict[str, str], limit: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(_bound_sql(pinned), [space.pk, *pinned.values(), limit])
        return cursor.fetchone()[0]


_common = {"lexemes": [], "until": 0.0}
COMMON_LEXEMES_SECONDS = 600


def _common_lexemes() -> list[str]:
    """Lexemes found in more than SEARCH_TEXT_COMMON_SHARE of all memories: from the planner's statistics
    (ANALYZE keeps the most common elements of a tsvector column and their shares), re-read every 10 minutes."""
    if time.monotonic() >= _common["until"]:
        with connection.cursor() as cursor:
            cursor.execute(
                """SELECT coalesce(array_agg(lexeme), '{}') FROM pg_stats,
                          unnest(most_common_elems::text::text[], most_common_elem_freqs) AS common(lexeme, share)
                   WHERE schemaname = current_schema() AND tablename = 'mem0_compat_memory'
                     AND attname = 'search_vector'
                     AND lexeme IS NOT NULL AND share > %s""",
                [settings.SEARCH_TEXT_COMMON_SHARE])
            _common.update(lexemes=cursor.fetchone()[0], until=time.monotonic() + COMMON_LEXEMES_SECONDS)
    return _common["lexemes"]


_HIT_FIELDS = [field for field in Memory._meta.concrete_fields if field.name not in UNSHOWN_FIELDS]
_HIT_COLUMNS = ", ".join(field.column for field in _HIT_FIELDS)

# Both search statements begin alike: the query's words as one tsquery, made once (to_tsquery is only
# stable: written into ts_rank's arguments it would be parsed again for every row). And they end alike:
# `candidate` rows (the memory's columns, cosine distance, text rank) become a 0..1 similarity (no vector, or
# a zero vector's NaN, counts as 0) and a text rank relative to the best one, scored and sorted (ties by id),
# those under the threshold left out. The candidates carry their columns to the end: they are read once, where
# joining the best rows back to the table cost an index lookup each and one more table to plan.
# Every CTE is MATERIALIZED: planned once, on its own. Left to the planner, the ones named once are folded into
# the statement, and planning that one larger query cost more than the legs do (a whole-space search at 100k
# memories: planning 0.84 → 0.56 ms, the statement at the client 3.9 → 3.5 ms; the same hits).
_TEXT_QUERY = """
text_query AS MATERIALIZED (SELECT to_tsquery('english', %s) AS query),"""
_TEXT_RANK = "ts_rank(search_vector, (SELECT query FROM text_query))"
_CANDIDATE = f"SELECT {_HIT_COLUMNS}, embedding <=> %s::vector AS distance, {{rank}} AS rank FROM mem0_compat_memory"
_SCORED = f"""
relative AS MATERIALIZED (
    SELECT {_HIT_COLUMNS},
           CASE WHEN distance IS NULL OR distance = 'NaN' THEN 0 ELSE greatest(0, least(1, 1 - distance)) END
               AS similarity,
           coalesce(rank / nullif(max(rank) OVER (), 0), 0) AS text_rank
    FROM candidate
),
scored AS MATERIALIZED (SELECT *, %s * similarity + %s * text_rank AS score FROM relative)
SELECT {_HIT_COLUMNS}, similarity, text_rank, score FROM scored
WHERE score >= %s ORDER BY score DESC, id::text LIMIT %s"""

# A scope of at most SEARCH_EXACT_MAX_ROWS rows (one user, a run, a small space) is read once and every row
# scored: exact, and cheaper than any index for a few hundred rows. The statement checks the bound itself
# (an index-only count) and reads nothing when the scope is larger.
_EXACT = """
bound AS MATERIALIZED ({bound}),
candidate AS MATERIALIZED (
    {candidate}
    WHERE {where} AND (SELECT * FROM bound) <= %s
),"""

# A larger scope: the nearest rows by the HNSW index (iterative scan is on for every connection, see
# DATABASES OPTIONS, so a filtered scope still gets its rows) united with the best full-text matches.
# The text leg takes its matches in tiers, each only when the ones before found fewer than a pool: rows with
# every word of the query, then rows with two of them, then a few rows for each single word. In a large
# scope an OR of common words matches thousands of rows that ts_rank cannot tell apart (it has no idf):
# ranking an arbitrary thousand of them bought nothing but page reads, where the tiers rank the rows that
# match most words and give a rare word its rows beside a common one. `lexemes` are the query's words as the
# english configuration stems them, stop words gone (to_tsquery would shrink a pair "(the & user)" to
# "user", making a two-word tier match one word). A word found in more than SEARCH_TEXT_COMMON_SHARE of all
# memories picks no candidates (its matches are too many to rank, and equal), though it still counts in
# every rank. Each tier reads at most SEARCH_TEXT_SCAN_LIMIT rows.
# The HNSW scan can come back with fewer rows than asked for, iterative scan or not: thousands of
# near-duplicate vectors can form an island of the graph that a scan starting in it never leaves (measured: a
# whole-space search whose query landed among 502 such rows of other spaces got no vector candidates at all,
# and no hits), and a filter few rows pass can outlast the scan's limits. When it brings fewer rows than the
# search must answer, the leg is taken again exactly, the distance written as an expression no index serves.
# Only then (a 100k-row scope taken exactly costs 60-70 ms), and gated above its LIMIT: a gate inside it left
# the parallel plan of the exact leg to start its workers for every search, to read nothing (a whole-space
# search at 100k memories: 17 ms at p50 with the gate inside, 9 ms above).
_VECTOR_LEG = """
hnsw_leg AS MATERIALIZED (
    SELECT id FROM mem0_compat_memory WHERE {where} ORDER BY embedding <=> %s::vector LIMIT %s
),
vector_leg AS MATERIALIZED (
    SELECT id FROM hnsw_leg
    UNION ALL
    SELECT id FROM (SELECT id FROM mem0_compat_memory WHERE {where} ORDER BY (embedding <=> %s::vector) + 0 LIMIT %s)
        AS exact_leg WHERE (SELECT count(*) FROM hnsw_leg) < %s
),"""
_TEXT_LEG = """
lexemes AS MATERIALIZED (
    SELECT coalesce(array_agg(quote_literal(word)), '{{}}') AS words
    FROM unnest(tsvector_to_array(to_tsvector('english', %s))) AS word WHERE word <> ALL (%s::text[])
),
tiers AS MATERIALIZED (
    SELECT nullif(array_to_string(words, ' & '), '')::tsquery AS all_words,
           (SELECT nullif(string_agg(format('(%%s & %%s)', a, b), ' | '), '')::tsquery
              FROM unnest(words[1:12]) AS a, unnest(words[1:12]) AS b WHERE a < b) AS two_words
    FROM lexemes
),
text_all AS MATERIALIZED (
    SELECT id, {rank} AS rank FROM mem0_compat_memory
    WHERE {where} AND search_vector @@ (SELECT all_words FROM tiers) LIMIT %s
),
text_two AS MATERIALIZED (
    SELECT id, {rank} AS rank FROM mem0_compat_memory
    WHERE {where} AND search_vector @@ (SELECT two_words FROM tiers) AND (SELECT count(*) FROM text_all) < %s
    LIMIT %s
),
text_one AS MATERIALIZED (
    SELECT found.id, found.rank FROM unnest((SELECT words FROM lexemes)) AS word,
        LATERAL (SELECT id, {rank} AS rank FROM mem0_compat_memory
                 WHERE {where} AND search_vector @@ word::tsquery LIMIT %s) AS found
    WHERE (SELECT count(*) FROM text_all) + (SELECT count(*) FROM text_two) < %s
),
text_leg AS MATERIALIZED (
    SELECT id, rank FROM text_all UNION SELECT id, rank FROM text_two UNION SELECT id, rank FROM text_one
    ORDER BY rank DESC LIMIT %s
),
"""
_CANDIDATES = """
candidate AS MATERIALIZED (
    {candidate}
    WHERE id IN ({ids})
),"""


def memory_search(*, space: MemorySpace, query_vector, query: str, filters: Q | None = None, top_k: int = 10,
                  threshold: float | None = None, show_expired: bool = False,
                  text_weight: float | None = None) -> list[Hit]:
    """Hybrid search: cosine similarity (pgvector) and full-text rank (tsvector) scored
    `(1 - w) * similarity + w * text_rank / best_text_rank`, best first, those under `threshold` left out.

    Exact over a scope of at most SEARCH_EXACT_MAX_ROWS rows (_EXACT), by candidates of a vector and a text
    leg over a larger one (_VECTOR_LEG, _TEXT_LEG, _CANDIDATES). Unless the scope is known to be large, the
    exact statement is tried: its answer proves the scope small, and only an empty answer (an empty scope, or
    one too large for its guard) needs the bound counted apart.
    """
    weight = settings.SEARCH_TEXT_WEIGHT if text_weight is None else text_weight
    try:
        where, where_params = _scope_where(memories_of(space=space, filters=filters, show_expired=show_expired))
    except EmptyResultSet:  # the filters can match nothing, such as an empty "in" list
        return []
    words = _WORD.findall(query.lower())[:64] if weight > 0 else []
    search = _Search(where=where, where_params=where_params, vector=np.asarray(query_vector, dtype=np.float32),
                     words=words, weight=weight, threshold=threshold, top_k=top_k)
    pinned, exact_max = _pinned_entity_ids(filters), settings.SEARCH_EXACT_MAX_ROWS
    key = (space.pk, *sorted(pinned.items()), exact_max)
    size = _known_size(key)
    if size is None or size <= exact_max:
        hits = search.exact(space=space, pinned=pinned, exact_max=exact_max)
        if hits:
            _remember_size(key, exact_max)
            return hits
        size = _scope_size_bound(space, pinned, exact_max + 1)
        _remember_size(key, size)
        if size <= exact_max:
            return hits
    return search.by_legs()


@dataclass
class _Search:
    """One search's SQL pieces and parameters; `exact` and `by_legs` run it either way."""

    where: str
    where_params: list
    vector: np.ndarray
    words: list[str]
    weight: float
    threshold: float | None
    top_k: int

    @property
    def rank(self) -> str:
        return _TEXT_RANK if self.words else "0.0::real"

    @property
    def candidate(self) -> str:
        return _CANDIDATE.format(rank=self.rank)

    def exact(self, *, space: MemorySpace, pinned: dict[str, str], exact_max: int) -> list[Hit]:
        sql = _EXACT.format(bound=_bound_sql(pinned), candidate=self.candidate, where=self.where)
        return self._run(sql, [space.pk, *pinned.values(), exact_max + 1, self.vector, *self.where_params,
                               exact_max])

    def by_legs(self) -> list[Hit]:
        where, where_params, rank = self.where, self.where_params, self.rank
        pool = max(self.top_k * 4, 40)
        sql, params = _VECTOR_LEG.format(where=where), [*where_params, self.vector, pool,
                                                        *where_params, self.vector, pool, self.top_k]
        if self.words:
            scan = settings.SEARCH_TEXT_SCAN_LIMIT
            sql += _TEXT_LEG.format(where=where, rank=rank)
            params += [" ".join(self.words), _common_lexemes(),
                       *where_params, scan,
                       *where_params, pool, scan,
                       *where_params, max(4, pool // len(self.words)), pool,
                       pool]
        ids = "SELECT id FROM vector_leg" + (" UNION SELECT id FROM text_leg" if self.words else "")
        sql += _CANDIDATES.format(candidate=self.candidate, ids=ids)
        return self._run(sql, [*params, self.vector])

    def _run(self, body: str, params: list) -> list[Hit]:
        """`body` (its CTEs) between the text query and the scoring, as one statement."""
        sql = "WITH" + (_TEXT_QUERY if self.words else "") + body + _SCORED
        params = [*([" | ".join(self.words)] if self.words else []), *params,
                  1 - self.weight, self.weight, -1.0 if self.threshold is None else self.threshold, self.top_k]
        return _hits(_server_bound_rows(sql, params))


def _server_bound_rows(sql: str, params: list) -> list[tuple]:
    """`sql` run on Django's connection with its parameters bound by the server, the query vector in
    pgvector's binary form. Django's cursors bind on the client: they write every parameter into the
    statement's text, and a vector's 384 numbers, spelled out, quoted and parsed back, made a per-user search
    statement 1.5 ms instead of 0.5 (measured at 100k memories, data cached)."""
    connection.ensure_connection()
    connection.validate_thread_sharing()
    raw = ServerBindingCursor(connection.connection)
    raw.adapters.register_dumper(np.ndarray, VectorBinaryDumper)
    # Django's own wrapper: errors become django.db's, and the statement is logged like any other.
    with connection.make_debug_cursor(raw) if connection.queries_logged else connection.make_cursor(raw) as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _hits(rows: list[tuple]) -> list[Hit]:
    """Rows of _SCORED (_HIT_COLUMNS, then similarity, text rank and score) as Hits."""
    count = len(_HIT_FIELDS)
    return [Hit(memory, score=row[count + 2], vector_similarity=row[count], text_rank=row[count + 1])
            for memory, row in zip(instances(Memory, rows, _HIT_FIELDS), rows, strict=True)]


def closest_in_scope(*, space: MemorySpace, scope: dict, vectors, per_fact: int = 5) -> list[Memory]:
    """The few existing memories of this entity scope nearest to each new fact, deduplicated: what the
    ADD/UPDATE/DELETE decision compares against. Not expired ones: nobody sees them, so a fact said again
    must not be answered NONE by one."""
    vectors = list(vectors)
    if not vectors:
        return []
    where, params = _scope_where(memories_of(space=space, filters=scope_filter(scope)))
    # One statement whatever the number of facts (a query per fact, an LLM's hundreds of facts took as many
    # round trips): each fact's nearest, fact by fact, nearest first.
    rows = fetch_all(
        f"""SELECT near.* FROM unnest(%s::text[]) WITH ORDINALITY AS fact(vector, ord),
                LATERAL (SELECT {_HIT_COLUMNS}, embedding <=> fact.vector::vector AS distance
                           FROM mem0_compat_memory WHERE {where}
                          ORDER BY distance LIMIT %s) AS near
            ORDER BY fact.ord, near.distance, near.id""",
        [[vector_literal(vector) for vector in vectors], *params, per_fact])
    seen: dict = {}
    for memory in instances(Memory, rows, _HIT_FIELDS):
        seen.setdefault(memory.pk, memory)
    return list(seen.values())


ENTITY_TYPES = {"user": "user_id", "agent": "agent_id", "app": "app_id", "run": "run_id"}


def entity_list(*, space: MemorySpace) -> QuerySet:
    """Every user/agent/app/run id with live memories in the space, as dicts of `type`, `name`,
    `total_memories` and the first/last times (`created_at`, `updated_at`): users first, then agents, apps and
    runs, each by name. One statement, so that a page of it is a page in SQL. `total_memories` counts those a
    listing shows, not the expired; an entity holding only expired ones is still listed (with 0), because
    the mem0 client's `reset()` deletes the entities it finds here, and would leave those behind."""
    legs = [Memory.objects.alive().filter(space=space, **{f"{field}__isnull": False})
            .values(name=F(field))
            .annotate(rank=Value(rank), type=Value(entity_type), total_memories=Count("pk", filter=_unexpired()),
                      created_at=Min("created_at"), updated_at=Max("updated_at"))
            for rank, (entity_type, field) in enumerate(ENTITY_TYPES.items())]
    return legs[0].union(*legs[1:], all=True).order_by("rank", "name")


def add_requests_to_republish(*, now: datetime, limit: int = 1000) -> QuerySet:
    """Ids of queued adds whose Celery message may have been lost, oldest first: PENDING for longer than
    ADD_REQUEST_REPUBLISH_AFTER_SECONDS (the publish failed), or RUNNING for longer than
    ADD_REQUEST_STALE_RUNNING_SECONDS (the worker died; its claim may then be taken over)."""
    return work_to_republish(AddRequest, now=now, pending=AddRequest.Status.PENDING,
                             running=AddRequest.Status.RUNNING,
                             pending_after=settings.ADD_REQUEST_REPUBLISH_AFTER_SECONDS,
                             running_after=settings.ADD_REQUEST_STALE_RUNNING_SECONDS, limit=limit)
