"""Reads of long-term memory. Callers pass a space they already checked the caller may see."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db.models import Count, F, FloatField, Max, Min, Q, QuerySet, Value
from django.utils import timezone
from pgvector.django import CosineDistance

from mem0_compat.models import ENTITY_FIELDS, Memory, MemoryHistory
from memoryspaces.models import MemorySpace

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def memories_of(*, space: MemorySpace, filters: Q | None = None, show_expired: bool = False) -> QuerySet[Memory]:
    """Live memories of the space matching `filters`; expired ones hidden unless asked for."""
    memories = Memory.objects.alive().filter(space=space)
    if filters is not None:
        memories = memories.filter(filters)
    if not show_expired:
        memories = memories.filter(Q(expiration_date__isnull=True) | Q(expiration_date__gte=timezone.localdate()))
    return memories


def memory_list(*, space: MemorySpace, filters: Q | None = None, show_expired: bool = False) -> QuerySet[Memory]:
    """Newest first, stable (ties broken by id)."""
    return memories_of(space=space, filters=filters, show_expired=show_expired).order_by("-created_at", "-id")


def memory_get(*, space: MemorySpace, memory_id: uuid.UUID) -> Memory | None:
    return Memory.objects.alive().filter(space=space, pk=memory_id).first()


def memory_history(*, space: MemorySpace, memory_id: uuid.UUID) -> QuerySet[MemoryHistory]:
    return MemoryHistory.objects.filter(space=space, memory_id=memory_id).order_by("created_at", "id")


def scope_filter(scope: dict) -> Q:
    """Exact match on the entity ids that are given (user/agent/app/run); ids not given do not constrain."""
    return Q(**{field: value for field, value in scope.items() if field in ENTITY_FIELDS and value})


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


def memory_search(*, space: MemorySpace, query_vector, query: str, filters: Q | None = None, top_k: int = 10,
                  threshold: float | None = None, show_expired: bool = False,
                  text_weight: float | None = None) -> list[Hit]:
    """Hybrid search: the nearest memories by cosine distance (pgvector) united with the best full-text
    matches (tsvector), then scored `(1 - w) * similarity + w * text_rank / best_text_rank`, best first.

    Two statements: the candidates of both legs (a UNION) with their distance and text rank only, then the
    `top_k` best rows, without their vectors.
    The text leg ranks at most SEARCH_TEXT_SCAN_LIMIT matches, so a common word in a huge scope cannot make
    it rank the whole table. HNSW iterative scan is on for every connection (see DATABASES OPTIONS), so a
    filtered scope served from the HNSW index still returns its rows.
    """
    weight = settings.SEARCH_TEXT_WEIGHT if text_weight is None else text_weight
    scope = memories_of(space=space, filters=filters, show_expired=show_expired)
    pool = max(top_k * 4, 40)
    candidates = scope.order_by(CosineDistance("embedding", query_vector)).values_list("pk", flat=True)[:pool]
    tsquery = text_query(query) if weight > 0 else None
    if tsquery is not None:
        matches = scope.filter(search_vector=tsquery).values("pk")[: settings.SEARCH_TEXT_SCAN_LIMIT]
        candidates = candidates.union(
            Memory.objects.filter(pk__in=matches)
            .annotate(rank=SearchRank(F("search_vector"), tsquery))
            .order_by("-rank").values_list("pk", flat=True)[:pool]
        )
    no_rank = Value(0.0, output_field=FloatField())
    scored = list(
        Memory.objects.filter(pk__in=candidates).values_list(
            "pk", CosineDistance("embedding", query_vector),
            SearchRank(F("search_vector"), tsquery) if tsquery is not None else no_rank,
        )
    )
    best_rank = max((rank for _, _, rank in scored), default=0.0) or 1.0
    ranked = []
    for pk, distance, rank in scored:
        similarity = min(max(1.0 - float(distance if distance is not None else 1.0), 0.0), 1.0)
        text = float(rank) / best_rank
        ranked.append(((1 - weight) * similarity + weight * text, similarity, text, pk))
    ranked.sort(key=lambda item: (-item[0], str(item[3])))
    ranked = [item for item in ranked if threshold is None or item[0] >= threshold][:top_k]
    rows = Memory.objects.defer("embedding", "search_vector").in_bulk([item[3] for item in ranked])
    return [Hit(rows[pk], score, similarity, text) for score, similarity, text, pk in ranked]


def closest_in_scope(*, space: MemorySpace, scope: dict, vectors, per_fact: int = 5) -> list[Memory]:
    """The few existing memories of this entity scope nearest to each new fact, deduplicated: what the
    ADD/UPDATE/DELETE decision compares against."""
    scoped = Memory.objects.alive().filter(space=space).filter(scope_filter(scope))
    seen: dict = {}
    for vector in vectors:
        for memory in scoped.order_by(CosineDistance("embedding", vector))[:per_fact]:
            seen.setdefault(memory.pk, memory)
    return list(seen.values())


ENTITY_TYPES = {"user": "user_id", "agent": "agent_id", "app": "app_id", "run": "run_id"}


def entity_list(*, space: MemorySpace) -> list[dict]:
    """Every user/agent/app/run id with memories in the space, with counts and first/last times."""
    entities = []
    for entity_type, field in ENTITY_TYPES.items():
        rows = (Memory.objects.alive().filter(space=space, **{f"{field}__isnull": False})
                .values(field).annotate(total=Count("pk"), first=Min("created_at"), last=Max("updated_at"))
                .order_by(field))
        for row in rows:
            name = row[field]
            entities.append({
                "id": str(uuid.uuid5(space.pk, f"{entity_type}:{name}")),
                "name": name, "type": entity_type, "total_memories": row["total"],
                "created_at": row["first"], "updated_at": row["last"], "metadata": None,
                "owner": space.owner.get_username(),
            })
    return entities
