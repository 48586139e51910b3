"""Writes of long-term memory: add (extract → compare → decide → apply), update, delete, reset.

Slow work (LLM calls, embeddings) happens before the transaction; the decisions are then applied in one
transaction, with a history row for every ADD / UPDATE / DELETE. A provider failure raises UpstreamFailed
(502) before anything is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q, QuerySet
from django.db.models.functions import Now
from django.utils import timezone
from psycopg.types.json import Jsonb

from config.api.errors import Conflict, InvalidInput, NotFound, ServiceUnavailable, UpstreamFailed
from config.limits import METADATA
from mem0_compat import selectors
from mem0_compat.embeddings import EmbedderUnavailable, get_embedder
from mem0_compat.extraction import Decision, ExtractionFailed, Extractor, extractor_for, is_agent_scope
from mem0_compat.filters import entity_ids_in
from mem0_compat.models import (
    ENTITY_FIELDS,
    MEMORY_MAX_CATEGORIES,
    AddRequest,
    Memory,
    MemoryExport,
    MemoryFeedback,
    MemoryHistory,
    MemoryInput,
)
from mem0_compat.vector_column import (
    LOCK_FOR_VECTOR_WRITES,
    WRITER_RECORD,
    embedder_mismatch_now,
    recorded_embedder_mismatch,
    vector_literal,
    vector_write_mismatch,
)
from memoryspaces.models import MemorySpace

logger = logging.getLogger(__name__)


def text_hash(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def _unavailable(mismatch: str) -> ServiceUnavailable:
    return ServiceUnavailable(f"Long-term memory is unavailable: {mismatch}. Run `manage.py reembed` to re-embed "
                              "every memory with the configured embedder, or configure the one that made them.")


def embed(texts: list[str]):
    """Vectors from this process's embedder, which must be the one that made the stored vectors: checked here
    as `embedder_mismatch_now` (trusted for a minute), enough for a search; what writes the vectors checks
    again in its transaction (`_vectors_may_be_written`, `_insert_new`)."""
    mismatch = embedder_mismatch_now()
    if mismatch is not None:
        raise _unavailable(mismatch)
    try:
        return get_embedder().embed(texts)
    except EmbedderUnavailable as exc:
        raise UpstreamFailed(f"The embedding provider failed: {exc}") from exc


def _restrictions(includes: str | None, excludes: str | None) -> str | None:
    """An add's includes/excludes, as sentences both extractors understand."""
    parts = []
    if includes:
        parts.append(f"Only extract information about: {includes}")
    if excludes:
        parts.append(f"Do not extract information about: {excludes}")
    return "\n".join(parts) or None


def memory_add(*, space: MemorySpace, messages: list[dict], scope: dict, infer: bool = True,
               metadata: dict | None = None, categories: list[str] | None = None, immutable: bool = False,
               expiration_date: date | None = None, timestamp: datetime | None = None,
               custom_instructions: str | None = None, includes: str | None = None,
               excludes: str | None = None, custom_categories: dict[str, str] | None = None) -> list[dict]:
    """Add memories from `messages` for the entity `scope` ({user_id, agent_id, app_id, run_id}).

    infer=True: the space's extractor (its LLM, else the offline heuristic) turns the messages into facts,
    compares them with the closest memories of the same scope and decides ADD / UPDATE / DELETE / NONE; an
    UPDATE gives the memory the add's metadata, categories, expiration and immutability (`_carry_options`).
    infer=False: every user and assistant message is stored verbatim. Either way a text already stored in
    exactly the same scope (same hash, same ids, NULL where none is given) is not stored twice. With
    `custom_categories` ({name: description}) the extractor also picks those that fit each text stored
    (after the explicit `categories`) or updated (after the memory's own). Returns v1.1 results:
    [{id, memory, event, previous_memory?}].
    """
    with closing(extractor_for(model=space.llm_model_name, base_url=space.llm_base_url)) as extractor:
        if infer:
            decisions = _decide(extractor=extractor, space=space, messages=messages, scope=scope,
                                instructions=custom_instructions or space.custom_instructions or None,
                                restrictions=_restrictions(includes, excludes))
        else:
            decisions = [Decision(event="ADD", text=m["content"]) for m in messages
                         if m.get("role") in ("user", "assistant")]
        texts = list(dict.fromkeys(d.text for d in decisions if d.event in ("ADD", "UPDATE")))
        vectors = dict(zip(texts, embed(texts), strict=True)) if texts else {}
        fitting = {}
        if custom_categories and texts:
            with _provider_failure(extractor, "categorization"):
                chosen = extractor.categorize(texts, custom_categories, [vectors[text] for text in texts])
            fitting = dict(zip(texts, chosen, strict=True))
    fields = {"metadata": metadata, "categories": categories or [], "immutable": immutable,
              "expiration_date": expiration_date}
    source = _Input(space_id=space.pk, messages=messages)
    if all(decision.event == "ADD" for decision in decisions):
        # one statement, atomic by itself: the common case of infer=false pays one round trip and one commit
        return _insert_new(space=space, scope=scope, texts=[d.text for d in decisions], vectors=vectors,
                           fitting=fitting, fields=fields, timestamp=timestamp, source=source)
    with transaction.atomic():
        return _apply(space=space, decisions=decisions, scope=scope, vectors=vectors, fitting=fitting,
                      fields=fields, timestamp=timestamp, source=source)


def add_request_claim(*, request_id, now: datetime | None = None) -> AddRequest | None:
    """PENDING → RUNNING, or a RUNNING one whose worker seems to have died (no change for
    ADD_REQUEST_STALE_RUNNING_SECONDS) taken over, in one UPDATE: of two workers given the same request (a
    message published again), one gets it. None when another worker has it or it is finished."""
    now = now or timezone.now()
    stale_before = now - timedelta(seconds=settings.ADD_REQUEST_STALE_RUNNING_SECONDS)
    claimed = (AddRequest.objects.filter(pk=request_id)
               .filter(Q(status=AddRequest.Status.PENDING)
                       | Q(status=AddRequest.Status.RUNNING, updated_at__lt=stale_before))
               .update(status=AddRequest.Status.RUNNING, updated_at=now))
    return AddRequest.objects.select_related("space").get(pk=request_id) if claimed else None


def add_request_finish(*, request: AddRequest, status: str, results: list | None = None, error: str = "") -> bool:
    """Record how the attempt that claimed `request` (`add_request_claim`, as it returned it) ended: its status
    (PENDING again for a retry), results or error; and say whether it did. Not when the request is no longer
    that claim's, as a late record (`config.time_limits.recorded`) may find it: taken over once stale, claimed
    again by a retry, finished, or purged with its space; a later claim's record stands. A running request's
    updated_at is its claim's stamp (nothing else writes it until its end), which identifies the claim."""
    return bool(AddRequest.objects.filter(pk=request.pk, status=AddRequest.Status.RUNNING,
                                          updated_at=request.updated_at)
                .update(status=status, results=results, error=error, updated_at=timezone.now()))


def memory_add_request(*, space: MemorySpace, data: dict) -> list[dict]:
    """`memory_add` from a validated add request (the API's AddIn), now or in a worker."""
    options = {key: data.get(key) for key in ("metadata", "categories", "immutable", "expiration_date",
                                              "custom_instructions", "includes", "excludes")}
    timestamp = parse_timestamp(data["timestamp"]) if data.get("timestamp") is not None else None
    # mem0's shape, [{name: description}, ...], as one mapping
    custom_categories = {name: description for category in data.get("custom_categories") or []
                         for name, description in category.items()}
    return memory_add(space=space, messages=data["messages"], scope=entity_scope(data), infer=data["infer"],
                      timestamp=timestamp, custom_categories=custom_categories,
                      **{k: v for k, v in options.items() if v is not None})


def entity_scope(data: dict) -> dict:
    """Entity ids given top-level or (mem0ai 2.x) inside `filters`; top-level wins."""
    from_filters = entity_ids_in(data.get("filters"))
    return {field: data.get(field) or from_filters.get(field) for field in ENTITY_FIELDS
            if data.get(field) or from_filters.get(field)}


@contextmanager
def _provider_failure(extractor: Extractor, step: str) -> Iterator[None]:
    """An extractor's failure is the provider's: a 502, raised before anything is written."""
    try:
        yield
    except ExtractionFailed as exc:
        raise UpstreamFailed(f"Memory {step} with {extractor.name} failed: {exc}") from exc


def _decide(*, extractor: Extractor, space: MemorySpace, messages: list[dict], scope: dict,
            instructions: str | None, restrictions: str | None) -> list[Decision]:
    with _provider_failure(extractor, "extraction"):
        facts = extractor.extract_facts(messages, instructions=instructions, restrictions=restrictions,
                                        agent_scope=is_agent_scope(scope, messages))
        if not facts:
            return []
        existing = selectors.closest_in_scope(space=space, scope=scope, vectors=embed(facts))
        return extractor.decide(facts, [{"id": str(m.pk), "text": m.memory} for m in existing])


def _vectors_may_be_written() -> None:
    """The 503 of `embed` unless this process's embedder is the column's now, read in the calling transaction
    (which must write vectors next): a `reembed` that started since the process last checked has passed rows
    it would not come back to. Locking: the table's ROW EXCLUSIVE (LOCK_FOR_VECTOR_WRITES), before any other."""
    if (mismatch := vector_write_mismatch()) is not None:
        raise _unavailable(mismatch)


def _with_new(names: list[str], more: list[str]) -> list[str]:
    """`names`, then those of `more` not among them."""
    return list(dict.fromkeys([*names, *more]))


def _apply(*, space, decisions, scope, vectors, fitting, fields, timestamp, source) -> list[dict]:
    """An UPDATE of an immutable memory stores its text as a new memory instead: the fact is not lost, and
    the memory does not change. So does an UPDATE of a memory another writer changed since the decision read
    it (`_changed_since`), and a DELETE of such a memory is dropped: applied to a text they never saw, they
    would overwrite or retract it. An UPDATE to a text another memory of the scope holds (one just added, say)
    deletes the memory instead: its old text is outdated, and the scope keeps one copy of the new. DELETEs
    go first: a text they take out of the scope may be written again by an ADD or an UPDATE of the same
    reply (the LLM merging two memories), and then stays, as in mem0, which applies each decision in turn.
    Locking: rows to update or delete are locked (SELECT … FOR UPDATE, in id order, as every batch takes
    them) before anything is written, and read as they are then, another writer's change committed; then the
    texts to add or update, as `_insert_new` locks them (all at once, in hash order), so that the check for a
    holder of an UPDATE's text sees an add of it running at once. Before all of them, when it writes vectors,
    the table lock of `_vectors_may_be_written`."""
    if vectors:
        _vectors_may_be_written()
    in_scope = selectors.memories_of(space=space, filters=selectors.scope_filter(scope))
    changes = [d for d in decisions if d.memory_id and d.event in ("UPDATE", "DELETE")]
    locked = {str(m.pk): m for m in _locked_for_update(in_scope)
              .filter(pk__in={str(d.memory_id) for d in changes}).order_by("pk")}
    # the memories the decisions leave as they are
    left = {pk for d in changes if (pk := str(d.memory_id)) in locked
            and (locked[pk].immutable or _changed_since(d, locked[pk]))}
    _lock_texts(space_id=space.pk, scope=scope,
                hashes=[text_hash(d.text) for d in decisions if d.event in ("ADD", "UPDATE")])
    results = []
    for decision in decisions:
        memory = locked.get(str(decision.memory_id))
        if decision.event == "DELETE" and memory is not None and str(memory.pk) not in left:
            _soft_delete(memory, source)
            results.append({"id": str(memory.pk), "memory": memory.memory, "event": "DELETE"})
    kept_apart = [d.text for d in decisions if d.event == "UPDATE" and str(d.memory_id) in left]
    results += _insert_new(space=space, scope=scope,
                           texts=[d.text for d in decisions if d.event == "ADD"] + kept_apart,
                           vectors=vectors, fitting=fitting, fields=fields, timestamp=timestamp, source=source)
    holders = dict(in_scope.filter(hash__in={text_hash(d.text) for d in decisions if d.event == "UPDATE"})
                   .values_list("hash", "pk"))
    for decision in decisions:
        if decision.event != "UPDATE":
            continue
        memory = locked.get(str(decision.memory_id))
        if memory is None or str(memory.pk) in left:
            continue  # the decision named a memory outside this scope, or one it leaves as it is
        event = decision.event
        if event == "UPDATE" and holders.get(text_hash(decision.text), memory.pk) != memory.pk:
            event = "DELETE"
        if event == "UPDATE":
            old = memory.memory
            _set_text(memory, decision.text, vectors[decision.text])
            memory.updated_at = memory.database_now
            _carry_options(memory, fields, fitting.get(decision.text, []))
            memory.save()
            _history(memory, "UPDATE", old, memory.memory, source)
            holders[memory.hash] = memory.pk
            results.append({"id": str(memory.pk), "memory": memory.memory, "event": "UPDATE",
                            "previous_memory": old})
        else:
            _soft_delete(memory, source)
            results.append({"id": str(memory.pk), "memory": memory.memory, "event": "DELETE"})
    return results


def _changed_since(decision: Decision, memory: Memory) -> bool:
    """Whether `memory` no longer holds the text `decision` was made on (an UPDATE's old text, a DELETE's
    text): another writer (an add, a PUT) changed it between the read for the decision and the lock."""
    seen = decision.old_text if decision.event == "UPDATE" else decision.text
    return seen is not None and memory.hash != text_hash(seen)


def _carry_options(memory: Memory, fields: dict, fitting: list[str]) -> None:
    """What an add carried, onto a memory its UPDATE rewrites, losing nothing of the memory's own (as mem0's
    update merges the metadata it is given): the add's metadata over the memory's, its categories (explicit,
    then fitting) after the memory's, its expiration date when it gave one. An immutable add makes the memory
    immutable: the fact it states may not change either (the memory was mutable, or it would not be updated).
    Merged metadata past METADATA_MAX_BYTES, or categories grown past MEMORY_MAX_CATEGORIES, is a 422 (raised inside
    the add's transaction: nothing written)."""
    if fields["metadata"] is not None:
        memory.metadata = {**(memory.metadata or {}), **fields["metadata"]}
        if refusal := METADATA.refusal(memory.metadata, name="metadata"):  # each part was within the bound
            raise InvalidInput.at(["body", "metadata"], f"Merged over the metadata of memory {memory.pk}, "
                                  f"which this add updates, {refusal}", "too_long")
    categories = _with_new(memory.categories, [*fields["categories"], *fitting])
    # only an add that gives it more: a memory grown past the bound before there was one is still updated
    if len(categories) > max(MEMORY_MAX_CATEGORIES, len(memory.categories)):
        raise InvalidInput.at(["body", "categories"], f"Added to the {len(memory.categories)} categories of "
                              f"memory {memory.pk}, which this add updates, they would be {len(categories)}; a "
                              f"memory holds at most {MEMORY_MAX_CATEGORIES}", "too_long")
    memory.categories = categories
    if fields["expiration_date"] is not None:
        memory.expiration_date = fields["expiration_date"]
    memory.immutable = memory.immutable or fields["immutable"]


# A transaction-level advisory lock per (space, entity scope, text hash), taken in hash order: whatever makes a
# text live in a scope (an add, a restore) takes it before checking that the scope does not hold the text yet.
_LOCK_TEXTS = """SELECT count(pg_advisory_xact_lock(hashtextextended(%(space)s::text || %(scope)s || hash, 0)))
                   FROM (SELECT DISTINCT unnest(%(hashes)s::text[]) AS hash ORDER BY hash) AS texts;"""


def _scope_key(scope: dict) -> str:
    return json.dumps([scope.get(field) for field in ENTITY_FIELDS])


def _lock_texts(*, space_id, scope: dict, hashes: list[str]) -> None:
    if hashes:
        with connection.cursor() as cursor:
            cursor.execute(_LOCK_TEXTS, {"space": space_id, "scope": _scope_key(scope), "hashes": hashes})


def _insert_new(*, space, scope, texts, vectors, fitting, fields, timestamp, source: _Input) -> list[dict]:
    """Insert the texts not yet stored in exactly this entity scope (by hash; an id not given must be NULL
    there too, so a run's memory never stands in for its user's own; an expired memory, which nobody sees,
    does not count; repeats within `texts` once), with their ADD history rows (and `source`, when it is not
    stored yet and a row is written), in one statement. Each gets
    the explicit `fields["categories"]`, then the ones `fitting` ({text: names}) gives it, and as created_at
    and updated_at the add's `timestamp`, else the database's clock as its ADD rows get it: the statement's
    time (Django's Now(), the models' db_default), so an add inside a longer transaction is stamped when it
    runs. Returns their results in input order.

    A 503 (`embed`'s), and nothing written, unless this process's embedder is the column's, read by the
    statement (as `_vectors_may_be_written` reads it).

    Locking: before it, in the same round trip and transaction, the table's ROW EXCLUSIVE lock of
    `_vectors_may_be_written`, then a transaction-level advisory lock per (space, scope, hash), taken in hash
    order. Two adds of one text at once (a client retrying an add that timed out) would otherwise both find it
    absent and both store it (19 times in 40 tries): now the second statement starts once the first add has
    committed, and its check sees the row."""
    if not texts:
        return []
    same_scope = "".join(f" AND m.{field} IS NOT DISTINCT FROM %({field})s" for field in ENTITY_FIELDS)
    memories, history, inputs = Memory._meta.db_table, MemoryHistory._meta.db_table, MemoryInput._meta.db_table
    store_source = not source.stored
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            {LOCK_FOR_VECTOR_WRITES}
            {_LOCK_TEXTS}
            WITH record AS ({WRITER_RECORD}
            ), incoming AS (
                SELECT DISTINCT ON (hash) memory, hash, embedding, categories, ord
                  FROM unnest(%(texts)s::text[], %(hashes)s::text[], %(vectors)s::text[], %(categories)s::text[])
                       WITH ORDINALITY AS t(memory, hash, embedding, categories, ord)
                 WHERE (SELECT may_write FROM record)
                   AND NOT EXISTS (SELECT 1 FROM {memories} m WHERE m.space_id = %(space)s
                                      AND m.hash = t.hash AND m.deleted_at IS NULL{same_scope}
                                      AND (m.expiration_date IS NULL OR m.expiration_date >= %(today)s))
                 ORDER BY hash, ord
            ), inserted AS (
                INSERT INTO {memories} (id, space_id, memory, hash, embedding, user_id, agent_id, app_id, run_id,
                                        metadata, categories, immutable, expiration_date, created_at, updated_at)
                SELECT gen_random_uuid(), %(space)s, memory, hash, embedding::vector, %(user_id)s, %(agent_id)s,
                       %(app_id)s, %(run_id)s, %(metadata)s,
                       -- a row's categories arrive as a JSON array: text[][] must be rectangular
                       ARRAY(SELECT name FROM jsonb_array_elements_text(categories::jsonb) WITH ORDINALITY
                                                AS c(name, at) ORDER BY at),
                       %(immutable)s, %(expiration_date)s, coalesce(%(timestamp)s::timestamptz, statement_timestamp()),
                       coalesce(%(timestamp)s::timestamptz, statement_timestamp())
                  FROM incoming ORDER BY ord
             RETURNING id, memory, hash
            ), stored_source AS (
                INSERT INTO {inputs} (id, space_id, messages, created_at)
                SELECT %(source)s::uuid, %(space)s, %(messages)s::jsonb, statement_timestamp()
                 WHERE %(store_source)s::boolean AND EXISTS (SELECT 1 FROM inserted)
            ), logged AS (
                INSERT INTO {history} (id, space_id, memory_id, old_memory, new_memory, event, source_id, metadata,
                                       created_at, updated_at, is_deleted)
                SELECT gen_random_uuid(), %(space)s, id, NULL, memory, 'ADD', %(source)s::uuid, %(metadata)s,
                       statement_timestamp(), statement_timestamp(), false FROM inserted
            )
            -- one row at least: the record, whether or not anything was new
            SELECT record.embedder, inserted.id, inserted.memory
              FROM record LEFT JOIN (inserted JOIN incoming USING (hash)) ON true ORDER BY incoming.ord""",
            {"texts": texts, "hashes": [text_hash(text) for text in texts],
             "vectors": [vector_literal(vectors[text]) for text in texts], "space": space.pk,
             **{field: scope.get(field) for field in ENTITY_FIELDS},
             "scope": _scope_key(scope), "today": timezone.localdate(),
             "metadata": Jsonb(fields["metadata"]) if fields["metadata"] is not None else None,
             "categories": [json.dumps(_with_new(fields["categories"], fitting.get(text, []))) for text in texts],
             "immutable": fields["immutable"],
             "expiration_date": fields["expiration_date"], "timestamp": timestamp,
             "source": source.id, "store_source": store_source,
             "messages": Jsonb(source.messages) if store_source else None, "embedder": settings.EMBEDDER},
        )
        cursor.nextset()  # from the table lock to the text locks' row
        cursor.nextset()  # to the inserted ones
        rows = cursor.fetchall()
    if (mismatch := recorded_embedder_mismatch(rows[0][0])) is not None:
        raise _unavailable(mismatch)
    results = [{"id": str(pk), "memory": text, "event": "ADD"} for _, pk, text in rows if pk is not None]
    source.stored = source.stored or (store_source and bool(results))
    return results


def _set_text(memory: Memory, text: str, vector) -> None:
    memory.memory, memory.hash, memory.embedding = text, text_hash(text), vector


def _locked_for_update(memories: QuerySet[Memory]) -> QuerySet[Memory]:
    """`memories` locked (SELECT … FOR UPDATE), each with `database_now`: the database's clock as it reads
    them (the statement's time), which stamps their updated_at, as it stamps the history rows written after
    them, whatever the clock of the web process writing (another host's may be ahead or behind)."""
    return memories.select_for_update().annotate(database_now=Now())


def _history(memory: Memory, event: str, old: str | None, new: str | None, source: _Input) -> MemoryHistory:
    return MemoryHistory.objects.create(space_id=memory.space_id, memory_id=memory.pk, old_memory=old,
                                        new_memory=new, event=event, source_id=source.stored_id(),
                                        metadata=memory.metadata, is_deleted=event == "DELETE")


def _soft_delete(memory: Memory, source: _Input) -> None:
    memory.deleted_at = timezone.now()
    memory.save(update_fields=["deleted_at"])
    _history(memory, "DELETE", memory.memory, None, source)


@dataclasses.dataclass
class _Input:
    """The messages of one add, stored once (a MemoryInput) with the first history row that points to them."""
    space_id: uuid.UUID
    messages: list[dict]
    id: uuid.UUID = dataclasses.field(default_factory=uuid.uuid4)
    stored: bool = False

    def stored_id(self) -> uuid.UUID:
        if not self.stored:
            MemoryInput.objects.create(id=self.id, space_id=self.space_id, messages=self.messages)
            self.stored = True
        return self.id


@transaction.atomic
def memory_restore(*, memory: Memory) -> bool:
    """Undo the soft delete of `memory`, with an ADD history row marked `restored` (mem0's history knows only
    ADD, UPDATE and DELETE). False when it is live already. The text's hash is a memory's deduplication key
    in its exact scope (`_insert_new`): a Conflict when a live memory of that scope holds the text.

    Locking: the advisory lock `_insert_new` takes for (space, scope, hash), so that a restore and an add of
    the same text at once cannot both make it live; then the memory's row, by the UPDATE. Several restored in
    one transaction are restored in hash order (the admin's `restore_order`), the order an add locks texts in."""
    scope = {field: getattr(memory, field) for field in ENTITY_FIELDS}
    _lock_texts(space_id=memory.space_id, scope=scope, hashes=[memory.hash])
    if (Memory.objects.alive().filter(space_id=memory.space_id, hash=memory.hash)
            .filter(selectors.scope_filter(scope)).exists()):
        raise Conflict("A live memory of the same scope has the same text")
    if not Memory.objects.filter(pk=memory.pk).exclude(deleted_at=None).update(deleted_at=None):
        return False
    MemoryHistory.objects.create(space_id=memory.space_id, memory_id=memory.pk, old_memory=None,
                                 new_memory=memory.memory, event=MemoryHistory.Event.ADD, metadata={"restored": True})
    return True


def memory_embeddings_write(*, memories: list[Memory], vectors) -> None:
    """For `manage.py reembed`: give each of `memories` its vector, in one statement. No text changes while
    it runs: the column's record refuses every other write of vectors (`_vectors_may_be_written`)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""UPDATE {Memory._meta.db_table} AS m SET embedding = v.embedding::vector
                  FROM unnest(%s::uuid[], %s::text[]) AS v(id, embedding) WHERE m.id = v.id""",
            [[m.pk for m in memories], [vector_literal(v) for v in vectors]])


def memory_update(*, space: MemorySpace, memory_id: uuid.UUID, fields: dict) -> Memory:
    """Change text (re-embedded), metadata, created time or expiration. 404 if missing, 409 if immutable."""
    (memory,) = _update_all(space=space, updates=[{**fields, "memory_id": memory_id}])
    return memory


def memory_batch_update(*, space: MemorySpace, updates: list[dict]) -> int:
    """All or nothing: every memory must exist and be mutable."""
    return len(_update_all(space=space, updates=updates))


# What each field of an update changes: the columns to write.
_UPDATED_COLUMNS = {"text": ("memory", "hash", "embedding"), "metadata": ("metadata",),
                    "timestamp": ("created_at",), "expiration_date": ("expiration_date",)}


def _update_all(*, space: MemorySpace, updates: list[dict]) -> list[Memory]:
    """Apply `updates` ([{memory_id, text?, metadata?, timestamp?, expiration_date?}]) in order, all or
    nothing, with an UPDATE history row for each memory: one named twice gets one row, from its text before
    the batch to its text after (the rows of one statement share the database's time, which cannot order
    two of one memory). The first missing memory is a 404, the first immutable one a 409. The new texts are
    embedded in one call, before any lock is taken. Locking: the memories' rows (SELECT … FOR UPDATE, in id
    order, so that batches running at once cannot deadlock), then one UPDATE and one history INSERT whatever
    the batch size: a memory at a time, 1,000 metadata changes took 7.6 s.
    Returns the memories, in the order of `updates`."""
    texts = list(dict.fromkeys(update["text"] for update in updates if update.get("text")))
    vectors = dict(zip(texts, embed(texts), strict=True)) if texts else {}
    columns = {"updated_at"}.union(*(_UPDATED_COLUMNS[field] for update in updates for field in update
                                    if field in _UPDATED_COLUMNS and (field != "text" or update[field])))
    with transaction.atomic():
        if "embedding" in columns:
            _vectors_may_be_written()
        rows = _locked_for_update(Memory.objects.alive().filter(space=space)).defer("search_vector")
        if "embedding" not in columns:
            rows = rows.defer("embedding")
        ids = [uuid.UUID(str(update["memory_id"])) for update in updates]
        locked = {memory.pk: memory for memory in rows.filter(pk__in=ids).order_by("pk")}
        changed, history = [], {}
        for memory_id, update in zip(ids, updates, strict=True):
            memory = locked.get(memory_id)
            if memory is None:
                raise NotFound("Memory not found")
            if memory.immutable:
                raise Conflict("Memory is immutable and cannot be updated")
            old = memory.memory
            if update.get("text"):
                _set_text(memory, update["text"], vectors[update["text"]])
            if "metadata" in update:
                memory.metadata = update["metadata"]  # entity ids live in their own columns: metadata cannot move them
            if "timestamp" in update:
                memory.created_at = update["timestamp"]
            if "expiration_date" in update:
                memory.expiration_date = update["expiration_date"]
            memory.updated_at = memory.database_now
            changed.append(memory)
            earlier = history.get(memory.pk)
            history[memory.pk] = MemoryHistory(
                space_id=memory.space_id, memory_id=memory.pk, old_memory=earlier.old_memory if earlier else old,
                new_memory=memory.memory, event="UPDATE", metadata=memory.metadata)
        Memory.objects.bulk_update(list(locked.values()), sorted(columns))  # each once, however often named
        MemoryHistory.objects.bulk_create(history.values())
    return changed


def memory_delete(*, space: MemorySpace, memory_id: uuid.UUID) -> None:
    """404 if missing."""
    memory_batch_delete(space=space, memory_ids=[memory_id])


def _soft_delete_all(*, space: MemorySpace, memories: QuerySet[Memory]) -> int:
    """Soft-delete the live `memories` of the space, with a DELETE history row each, in three statements
    whatever their number. Locking: their rows (SELECT … FOR UPDATE, in id order, so that batches running at
    once cannot deadlock). Returns how many."""
    rows = list(memories.alive().filter(space=space).select_for_update().order_by("pk")
                .only("pk", "space_id", "memory", "metadata"))
    Memory.objects.filter(pk__in=[m.pk for m in rows]).update(deleted_at=timezone.now())
    MemoryHistory.objects.bulk_create([
        MemoryHistory(space_id=space.pk, memory_id=m.pk, old_memory=m.memory, new_memory=None, event="DELETE",
                      metadata=m.metadata, is_deleted=True) for m in rows
    ])
    return len(rows)


@transaction.atomic
def memory_delete_matching(*, space: MemorySpace, filters: Q) -> int:
    """Soft-delete every live memory of the space matching `filters` (never without one: the callers check),
    with a DELETE history row each. Returns how many."""
    return _soft_delete_all(space=space, memories=Memory.objects.filter(filters))


def space_reset(*, space: MemorySpace) -> int:
    """Every memory of this space (and only this space) is deleted."""
    return memory_delete_matching(space=space, filters=Q())


@transaction.atomic
def memory_batch_delete(*, space: MemorySpace, memory_ids: list[uuid.UUID]) -> int:
    """All or nothing: every memory must exist; one named more than once is deleted once. One statement per
    step for the whole batch: a memory at a time, 1,000 took 3.8 s."""
    named = set(memory_ids)
    deleted = _soft_delete_all(space=space, memories=Memory.objects.filter(pk__in=named))
    if deleted != len(named):
        raise NotFound("Memory not found")  # rolls the whole batch back
    return deleted


@transaction.atomic
def feedback_create(*, space: MemorySpace, memory_id: uuid.UUID, feedback: str | None = None,
                    feedback_reason: str | None = None) -> MemoryFeedback:
    """Record feedback on a live memory of the space; NotFound when it has none with this id. No lock: feedback
    given as the memory is deleted is kept like any other."""
    if selectors.memory_get(space=space, memory_id=memory_id) is None:
        raise NotFound("Memory not found")
    return MemoryFeedback.objects.create(space=space, memory_id=memory_id, feedback=feedback,
                                         feedback_reason=feedback_reason)


def parse_timestamp(value) -> datetime:
    """Unix seconds (int, float or numeric string) → an aware datetime."""
    return datetime.fromtimestamp(float(value), tz=UTC)


def entity_delete(*, space: MemorySpace, entity_field: str, name: str) -> int:
    """Soft-delete the entity's memories. 404 only for a name no memory of the space ever had: the clients'
    reset() deletes every entity users() listed, one at a time, and a memory of alice and bot is gone with
    alice by the time bot's turn comes."""
    deleted = memory_delete_matching(space=space, filters=Q(**{entity_field: name}))
    if not deleted and not Memory.objects.filter(space=space, **{entity_field: name}).exists():
        raise NotFound("Entity not found")
    return deleted


EXPORT_LIMIT = 10_000
# An export is kept as one jsonb value, which PostgreSQL caps at 256 MB: 10,000 memories of 50,000 characters
# were refused there (a 503 saying the database did not answer) after the worker had held 4.4 GB.
EXPORT_MAX_BYTES = 64 * 1024 * 1024
_EXPORT_CHUNK = 500


@transaction.atomic
def export_create(*, space: MemorySpace, schema: dict, scope: dict, filters: dict | None,
                  condition: Q) -> MemoryExport:
    """Project the matching memories (newest first, at most EXPORT_LIMIT) onto the properties of `schema` (a
    JSON schema with properties): a property named like a memory field takes that field, else the metadata key
    of that name, else null. The export is kept under the entity `scope` the request named. An export larger
    than EXPORT_MAX_BYTES (as JSON) is a 422, found while the memories are read, a chunk at a time."""
    memories = selectors.memory_list(space=space, filters=condition)[:EXPORT_LIMIT]
    rows, size = [], 0
    for memory in memories.iterator(chunk_size=_EXPORT_CHUNK):
        row = _project(memory, schema["properties"])
        size += len(json.dumps(row, ensure_ascii=False).encode())
        if size > EXPORT_MAX_BYTES:
            raise InvalidInput.at(["body"], f"The export would be larger than {EXPORT_MAX_BYTES // 2**20} MB "
                                            f"(at {len(rows) + 1} memories): narrow it with filters, or a "
                                            "schema of fewer properties", "too_long")
        rows.append(row)
    return MemoryExport.objects.create(space=space, schema=schema, filters=filters, result=rows,
                                       **{field: scope.get(field) for field in ENTITY_FIELDS})


def _project(memory: Memory, properties: dict) -> dict:
    row = {}
    for name in properties:
        if name in _EXPORTABLE:
            value = getattr(memory, name)
            row[name] = str(value) if isinstance(value, (uuid.UUID, datetime, date)) else value
        else:
            row[name] = (memory.metadata or {}).get(name)
    return row


_EXPORTABLE = {"id", "memory", "hash", "user_id", "agent_id", "app_id", "run_id", "metadata", "categories",
               "immutable", "expiration_date", "created_at", "updated_at"}


def export_get(*, space: MemorySpace, export_id: uuid.UUID | None, scope: dict | None) -> dict:
    """The export `export_id`, else the newest made for exactly the entity `scope` (an id not given is one
    the export was not made for either), else, with no scope at all (None), the newest of the space. 404 when
    none matches."""
    exports = MemoryExport.objects.filter(space=space).order_by("-created_at")
    if export_id:
        exports = exports.filter(pk=export_id)
    elif scope is not None:
        exports = exports.filter(selectors.scope_filter(scope))
    export = exports.first()
    if export is None:
        raise NotFound("Export not found")
    return {"id": str(export.pk), "schema": export.schema, "filters": export.filters,
            "created_at": export.created_at, "count": len(export.result or []),
            "memories": export.result}
