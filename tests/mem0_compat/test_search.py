"""Hybrid search (selectors.memory_search): the same answers whichever way a scope is searched.

A scope of at most SEARCH_EXACT_MAX_ROWS rows is scored row by row; a larger one by a vector leg (HNSW) and a
text leg. The `method` fixture runs each test both ways: "legs" sets the limit to 0, so every scope is large.
"""

import datetime as dt

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from mem0_compat import selectors
from mem0_compat.filters import compile_filters
from mem0_compat.models import Memory
from mem0_compat.selectors import memory_search
from mem0_compat.services import embed, text_hash
from tests.factories import MemorySpaceFactory

pytestmark = pytest.mark.django_db

FACTS = ["Has a cat named Tuna", "Deploys on Fridays using ArgoCD", "Likes hiking in the Alps",
         "Drinks green tea every morning", "Works as a nurse in Lisbon"]


@pytest.fixture(autouse=True)
def fresh_common_lexemes(monkeypatch):
    """The common-word list is cached per process: each test reads its own database's statistics."""
    monkeypatch.setitem(selectors._common, "until", 0.0)


@pytest.fixture(params=["exact", "legs"])
def method(request, settings):
    if request.param == "legs":
        settings.SEARCH_EXACT_MAX_ROWS = 0
    return request.param


def store(space, texts, user_id="alice", vectors=None, **fields):
    vectors = embed(texts) if vectors is None else vectors
    now = timezone.now()
    return Memory.objects.bulk_create(
        Memory(space=space, memory=text, hash=text_hash(text), embedding=vector, user_id=user_id, created_at=now,
               updated_at=now, **fields)
        for text, vector in zip(texts, vectors, strict=True))


def search(space, query, **options):
    return memory_search(space=space, query_vector=embed([query])[0], query=query, **options)


def texts(hits):
    return [hit.memory.memory for hit in hits]


def test_the_closest_memory_comes_first_with_scores_best_first(method, space):
    store(space, FACTS)
    hits = search(space, "when do we deploy")
    assert texts(hits)[0] == "Deploys on Fridays using ArgoCD"
    assert len(hits) == len(FACTS)
    scores = [hit.score for hit in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= hit.score <= 1 and 0 <= hit.vector_similarity <= 1 and 0 <= hit.text_rank <= 1
               for hit in hits)


def test_the_score_is_the_weighted_sum_of_similarity_and_relative_text_rank(method, space):
    store(space, FACTS)
    for weight in (0, 0.3, 1):
        for hit in search(space, "tea in the morning", text_weight=weight):
            assert hit.score == pytest.approx((1 - weight) * hit.vector_similarity + weight * hit.text_rank)
    best, *rest = search(space, "tea in the morning", text_weight=1)
    assert (best.memory.memory, best.text_rank) == ("Drinks green tea every morning", 1.0)
    assert all(hit.text_rank == 0 for hit in rest)


def test_a_word_only_full_text_knows_finds_its_memory(method, space):
    store(space, FACTS + ["The project codename is Qwertzuiop"])
    assert texts(search(space, "qwertzuiop", text_weight=1, top_k=1)) == ["The project codename is Qwertzuiop"]


def test_equal_scores_are_ordered_by_id(method, space):
    vector = embed(["same"])[0]
    stored = store(space, [f"same words {n}" for n in range(6)], vectors=[vector] * 6)
    hits = memory_search(space=space, query_vector=vector, query="", top_k=6)
    assert [hit.memory.pk for hit in hits] == sorted((memory.pk for memory in stored), key=str)


def test_threshold_and_top_k_cut_the_list(method, space):
    store(space, FACTS)
    everything = search(space, "green tea")
    middle = everything[2].score
    assert [hit.memory.pk for hit in search(space, "green tea", threshold=middle)] == [
        hit.memory.pk for hit in everything if hit.score >= middle]
    assert texts(search(space, "green tea", top_k=2)) == texts(everything)[:2]
    assert search(space, "green tea", threshold=1.01) == []


def test_only_the_scope_is_searched(method, space):
    store(space, FACTS, user_id="alice")
    store(space, ["Deploys on Mondays with Jenkins"], user_id="bob")
    store(MemorySpaceFactory(owner=space.owner), ["Deploys every day with Argo"], user_id="alice")
    alice = compile_filters({"user_id": "alice"}, loc=["filters"])
    assert set(texts(search(space, "how do we deploy", filters=alice))) == set(FACTS)
    assert len(search(space, "how do we deploy", filters=compile_filters({"user_id": "*"}, loc=["filters"]))) == 6


def test_deleted_memories_never_and_expired_ones_only_when_asked(method, space):
    store(space, FACTS[:2])
    store(space, ["Deploys on Sundays"], deleted_at=timezone.now())
    store(space, ["Deploys at night"], expiration_date=timezone.localdate() - dt.timedelta(days=1))
    assert "Deploys on Sundays" not in texts(search(space, "deploy", show_expired=True))
    assert "Deploys at night" not in texts(search(space, "deploy"))
    assert "Deploys at night" in texts(search(space, "deploy", show_expired=True))


@pytest.mark.parametrize("query", ["", "???", "the of and", "a " * 500, "ünïcödé naïve café", "it's (a | b) & !c:*"])
def test_any_query_text_is_searched_as_words(method, space, query):
    store(space, FACTS)
    hits = memory_search(space=space, query_vector=embed(["x"])[0], query=query, top_k=3)
    assert len(hits) == 3


def test_a_memory_without_a_usable_vector_has_similarity_0(method, space):
    store(space, ["Deploys on Fridays"], vectors=[np.zeros(len(embed(["x"])[0]), dtype=np.float32)])
    store(space, ["Deploys on Mondays"], vectors=[None])
    hits = search(space, "deploys")
    assert {hit.memory.memory: hit.vector_similarity for hit in hits} == {"Deploys on Fridays": 0.0,
                                                                           "Deploys on Mondays": 0.0}
    assert all(hit.text_rank == 1.0 for hit in hits)


def test_both_methods_agree_on_a_small_space(settings, space):
    store(space, FACTS + ["Has a dog named Rex", "Visits Lisbon every summer"])
    queries = ["which pets", "where does she work", "what does she drink", "mountains"]
    exact = [texts(search(space, query, top_k=3)) for query in queries]
    settings.SEARCH_EXACT_MAX_ROWS = 0
    assert [texts(search(space, query, top_k=3)) for query in queries] == exact


def test_a_large_scope_is_searched_by_legs_and_a_small_one_row_by_row(settings, space):
    store(space, FACTS)
    settings.SEARCH_EXACT_MAX_ROWS = len(FACTS)
    other = MemorySpaceFactory(owner=space.owner)
    store(other, FACTS + ["one more"])
    for target, legs in ((space, False), (other, True)):
        with CaptureQueriesContext(connection) as queries:
            search(target, "deploy")
        assert ("vector_leg" in queries.captured_queries[-1]["sql"]) is legs


def far_from(vector):
    """The vector opposite `vector`: the last row any nearest-neighbour search reaches."""
    return -np.asarray(vector, dtype=np.float32)


def test_the_text_leg_finds_a_match_the_vector_leg_cannot(settings, space):
    query = "where is the qwertzuiop folder"
    store(space, [f"Keeps folder {n} of invoices in the office" for n in range(60)])
    store(space, ["The qwertzuiop folder is upstairs"], vectors=[far_from(embed([query])[0])])
    settings.SEARCH_EXACT_MAX_ROWS = 0
    best, = search(space, query, top_k=1, text_weight=1)
    assert (best.memory.memory, best.vector_similarity, best.text_rank) == (
        "The qwertzuiop folder is upstairs", 0.0, 1.0)


def test_a_vector_leg_the_index_answers_short_is_taken_exactly(settings, space):
    """The HNSW scan sees only the 10 rows nearest the query (ef_search 10, no iterative scan), and they are
    all another space's: the leg is taken again exactly, and the space's own closest memory is found."""
    query = "which instrument does the user play"
    near, rng = np.asarray(embed([query])[0]), np.random.default_rng(7)

    def around(center, spread, count):
        vectors = center + spread * rng.standard_normal((count, center.size))
        return list(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))

    store(MemorySpaceFactory(owner=space.owner), [f"Other memory {n}" for n in range(100)],
          vectors=around(near, 0.01, 100))
    store(space, [f"Unrelated note {n}" for n in range(60)], vectors=around(np.zeros_like(near), 1.0, 60))
    store(space, ["Plays the cello on Sundays"], vectors=around(near, 0.1, 1))
    settings.SEARCH_EXACT_MAX_ROWS = 0
    with connection.cursor() as cursor:  # the index scan, short, wherever the planner could avoid it
        for setting in ("hnsw.iterative_scan = off", "hnsw.ef_search = 10", "enable_seqscan = off",
                        "enable_bitmapscan = off", "enable_sort = off"):
            cursor.execute(f"SET LOCAL {setting}")
    assert texts(search(space, query, top_k=3, text_weight=0))[0] == "Plays the cello on Sundays"


def plan_nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


def test_the_exact_leg_is_not_started_when_the_index_answers_in_full(settings, space, monkeypatch):
    """With parallel plans made free, the exact leg is planned as a parallel scan: nothing of it may start
    (gated above it, not inside its workers) when the HNSW leg brought enough rows. Started, its workers cost
    5-6 ms per whole-space search at 100k memories though they read nothing (measured: 17 ms against 9)."""
    store(space, [f"Plays instrument number {n}" for n in range(60)])
    settings.SEARCH_EXACT_MAX_ROWS = 0
    with connection.cursor() as cursor:
        for setting in ("parallel_setup_cost = 0", "parallel_tuple_cost = 0", "min_parallel_table_scan_size = 0",
                        "min_parallel_index_scan_size = 0", "enable_seqscan = off"):
            cursor.execute(f"SET LOCAL {setting}")
    search(space, "piano")  # the scope is now known to be too large for the exact statement
    plans, run = [], selectors._server_bound_rows

    def explained(sql, params):
        plans.append(run("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)[0][0][0]["Plan"])
        return run(sql, params)

    monkeypatch.setattr(selectors, "_server_bound_rows", explained)
    assert len(search(space, "which instrument does the user play", top_k=3)) == 3
    exact_sorts = [node for node in plan_nodes(plans[0]) if "+ '0'" in " ".join(node.get("Sort Key", []))]
    assert exact_sorts
    assert all(node["Actual Loops"] == 0 for sort in exact_sorts for node in plan_nodes(sort))

def test_words_in_most_memories_pick_no_text_candidates_but_still_rank(settings, space):
    """After ANALYZE "morning" is in most rows: the text leg takes no rows for it, yet the row with the rare
    word, far from the query's vector, is still found, and ranks first for matching both words."""
    query = "tea in the morning"
    store(space, [f"Walks {n} km every morning" for n in range(60)])
    store(space, ["Drinks tea every morning"], vectors=[far_from(embed([query])[0])])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE mem0_compat_memory")
    common = selectors._common_lexemes()
    assert "morn" in common and "tea" not in common and None not in common
    settings.SEARCH_EXACT_MAX_ROWS = 0
    best = search(space, query, text_weight=1, top_k=5)
    assert (best[0].memory.memory, best[0].vector_similarity) == ("Drinks tea every morning", 0.0)
    assert all(0 < hit.text_rank < 1 for hit in best[1:])  # "morning" still counts in their rank


@pytest.mark.parametrize("index", ["memory_search_vector", "memory_categories"])
def test_new_memories_go_straight_into_the_gin_indexes(space, index):
    """No pending list: with one, every search scans the pending entries row by row (400-850 ms instead of
    12 ms at 100k memories, measured)."""
    store(space, [f"Fact {n} about tea and the morning" for n in range(50)], categories=["habits", "food"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT gin_clean_pending_list(%s::regclass)", [index])
        assert cursor.fetchone()[0] == 0  # pages that were pending


def test_a_search_is_one_statement_once_the_scope_size_is_known(settings, space):
    store(space, FACTS)
    other = MemorySpaceFactory(owner=space.owner)
    store(other, FACTS + ["one more"])
    settings.SEARCH_EXACT_MAX_ROWS = len(FACTS)
    with CaptureQueriesContext(connection) as small:
        search(space, "deploy")  # the exact statement answers, and so tells the scope is small
    assert len(small.captured_queries) == 1
    search(other, "deploy")  # the exact statement finds the scope too large: counted, then searched by legs
    for target in (space, other):
        with CaptureQueriesContext(connection) as queries:
            assert search(target, "deploy")
        assert len(queries.captured_queries) == 1


def test_a_scope_that_outgrows_the_exact_limit_is_still_found(settings, space):
    settings.SEARCH_EXACT_MAX_ROWS = len(FACTS)
    store(space, FACTS)
    assert search(space, "deploy")  # remembered as small
    store(space, ["Deploys twice a day", "Deploys with Helm"])
    assert "Deploys with Helm" in texts(search(space, "deploy with helm", top_k=3))
