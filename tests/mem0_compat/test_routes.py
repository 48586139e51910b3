"""The mem0 routes the stock 2.x client does not use, driven as plain HTTP in the shapes their clients send:
mem0ai 1.x (`POST /v1/memories/`, `POST /v2/memories/`, `POST /v2/memories/search/`), the seed's v1 routes
(`GET /v1/memories/`, `POST /v1/memories/search/`), and mem0's open-source server shape (section 4)."""

import json
import uuid
from datetime import datetime, timedelta
from unittest import mock
from urllib.parse import urlencode

import numpy as np
import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from config.queries import database_now
from mem0_compat import services
from mem0_compat.api.views import NEED_ENTITY
from mem0_compat.extraction import MAX_OFFLINE_FACTS
from mem0_compat.models import (
    MEMORY_MAX_CATEGORIES,
    MEMORY_TEXT_MAX_LENGTH,
    AddRequest,
    Memory,
    MemoryExport,
    MemoryFeedback,
    MemoryHistory,
    MemoryInput,
)
from mem0_compat.services import embed
from tests.openapi_conformance import assert_conforms, served_schema


@pytest.fixture(autouse=True)
def no_llm(settings):
    settings.LLM_MODEL = None


def base(space):
    return f"/api/v2/memory/{space.id}/"


def add(api, space, text, route="v1/memories/", **fields):
    body = {"messages": [{"role": "user", "content": text}], "user_id": "alice", "infer": False, **fields}
    response = api.post(base(space) + route, body, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def test_v1_add_answers_v1_1_results_or_a_bare_v1_0_list(api, space):
    assert add(api, space, "Likes tea")["results"][0]["event"] == "ADD"
    bare = add(api, space, "Likes coffee", output_format="v1.0")
    assert bare == [{"id": bare[0]["id"], "data": {"memory": "Likes coffee"}, "event": "ADD"}]


def test_v1_add_accepts_the_seeds_camel_case_keys(api, space):
    response = api.post(base(space) + "v1/memories/", {"messages": [{"role": "user", "content": "Owns a bike"}],
                                                       "userId": "alice", "agentId": "bot", "infer": False},
                        format="json")
    memory = Memory.objects.get(memory="Owns a bike")
    assert response.status_code == 200 and (memory.user_id, memory.agent_id) == ("alice", "bot")


def test_v1_add_ignores_unknown_top_level_keys(api, space):
    result = add(api, space, "Plays chess", org_id="o", project_id="p", version="v2", something_new=1)
    assert result["results"][0]["memory"] == "Plays chess"


def test_v1_get_lists_by_entity_ids_with_top_k(api, space):
    for text in ("one", "two", "three"):
        add(api, space, text)
    add(api, space, "bob's", user_id="bob")
    body = api.get(base(space) + "v1/memories/", {"user_id": "alice", "top_k": 2}).json()
    assert [m["memory"] for m in body["results"]] == ["three", "two"]


def test_v1_get_pages_as_the_v3_listing_does(api, space):
    for text in ("one", "two", "three"):
        add(api, space, text)

    def v1_page(**params):
        response = api.get(base(space) + "v1/memories/", {"user_id": "alice", **params})
        assert response.status_code == 200 and set(response.json()) == {"results"}
        return [m["memory"] for m in response.json()["results"]]

    assert v1_page(page_size=2) == ["three", "two"]
    assert v1_page(page=2, page_size=2) == ["one"]
    assert v1_page(page=3, page_size=2) == []
    assert v1_page(page=2, top_k=1) == ["two"]  # top_k: page_size's older name
    assert v1_page(page=2) == []  # 100 a page unless asked otherwise
    v3 = api.post(base(space) + "v3/memories/?page=2&page_size=2", {"filters": {"user_id": "alice"}}, format="json")
    assert [m["memory"] for m in v3.json()["results"]] == ["one"]
    for bad in ({"page": 0}, {"page_size": 1001}):
        assert api.get(base(space) + "v1/memories/", {"user_id": "alice", **bad}).status_code == 422


def test_the_page_links_name_the_page_size_given_in_the_body(api, space):
    # mem0ai 1.x posts page_size in the body when no page is given; the links must page by it too
    for text in ("one", "two", "three", "four"):
        add(api, space, text)
    first = api.post(base(space) + "v2/memories/", {"filters": {"user_id": "alice"}, "page_size": 2},
                     format="json").json()
    assert [m["memory"] for m in first["results"]] == ["four", "three"]
    second = api.post(first["next"], {"filters": {"user_id": "alice"}}, format="json").json()
    assert [m["memory"] for m in second["results"]] == ["two", "one"]
    back = api.post(second["previous"], {"filters": {"user_id": "alice"}}, format="json").json()
    assert [m["memory"] for m in back["results"]] == ["four", "three"]


def add_categorised(api, space):
    add(api, space, "Likes vegan food", categories=["likes", "food_preferences"], metadata={"food": "vegan"})
    add(api, space, "Likes steak", categories=["likes"], metadata={"food": "meat"})
    add(api, space, "Works on Fridays", categories=["work"], metadata={"food": "vegan"})
    add(api, space, "Bob likes vegan food", user_id="bob", categories=["likes"], metadata={"food": "vegan"})


@pytest.mark.parametrize("route", ["v2/memories/", "v3/memories/", "v2/memories/search/", "v3/memories/search/"])
def test_top_level_categories_and_metadata_select_as_the_filters_they_stand_for(api, space, route):
    """mem0ai 1.x posts get_all's and search's keyword arguments as they are (seed 002:
    `client.get_all(user_id="alex123", categories=["likes"])`); a listing used to drop both."""
    add_categorised(api, space)

    def found(**fields):
        response = api.post(base(space) + route, {"query": "food", "user_id": "alice", **fields}, format="json")
        assert response.status_code == 200
        return {m["memory"] for m in response.json()["results"]}

    assert found(categories=["likes"]) == {"Likes vegan food", "Likes steak"}
    assert found(categories=["food_preferences", "work"]) == {"Likes vegan food", "Works on Fridays"}
    assert found(metadata={"food": "vegan"}) == {"Likes vegan food", "Works on Fridays"}
    assert found(categories=["likes"], metadata={"food": "vegan"}) == {"Likes vegan food"}
    assert found(keywords="LIKES V") == {"Likes vegan food"}  # seed 002: get_all(keywords="to play")


def test_v1_get_takes_categories_comma_separated(api, space):
    add_categorised(api, space)

    def listed(query):
        response = api.get(base(space) + "v1/memories/?user_id=alice&" + query)
        assert response.status_code == 200
        return [m["memory"] for m in response.json()["results"]]

    assert listed("categories=food_preferences") == ["Likes vegan food"]
    assert listed("categories=likes,work") == ["Works on Fridays", "Likes steak", "Likes vegan food"]
    assert listed("categories=work&page=2&page_size=1") == []
    assert listed("keywords=likes%20v&categories=likes") == ["Likes vegan food"]


@pytest.mark.parametrize("route", ["/api/v2/memory/{space_id}/v1/memories/", "/api/v2/memory/{space_id}/memories/"])
def test_the_comma_separated_categories_are_documented_with_the_bounds_the_server_holds(api, space, route):
    """The document gave the string the list's bound of 50 names as a maxLength of 50 characters: three
    names of 20 characters, which the server takes, were documented as invalid."""
    names = ",".join(["c" * 20, "d" * 20, "e" * 20])
    response = api.get(route.format(space_id=space.id) + f"?user_id=alice&categories={names}")
    assert response.status_code == 200
    assert_conforms(response, "GET", route)
    (documented,) = [p for p in served_schema()["paths"][route]["get"]["parameters"] if p["name"] == "categories"]
    assert documented["schema"].get("maxLength", 0) >= 50 * 100 + 49  # 50 names of 100 characters


def test_listing_and_getting_memories_read_no_vectors(api, space):
    """No answer shows the vector or the tsvector: a page of 100 memories read and parsed them for nothing,
    and took 2.6 times as long."""
    memory_id = add(api, space, "Likes tea")["results"][0]["id"]
    with CaptureQueriesContext(connection) as queries:
        listed = api.post(base(space) + "v3/memories/", {"filters": {"user_id": "alice"}}, format="json").json()
        fetched = api.get(base(space) + f"v1/memories/{memory_id}/").json()
    assert listed["results"][0]["memory"] == fetched["memory"] == "Likes tea"
    reads = [query["sql"] for query in queries.captured_queries
             if query["sql"].startswith('SELECT "mem0_compat_memory"."id"')]
    assert len(reads) == 2
    assert not any('"embedding"' in sql or '"search_vector"' in sql for sql in reads)


def test_batch_delete_writes_each_history_row_and_deletes_a_repeated_id_once(api, space,
                                                                               django_assert_max_num_queries):
    """A memory named twice used to be a 404 "Memory not found" (its second mention found it deleted): the
    caller's wish is plain, and deleting is idempotent."""
    ids = [add(api, space, f"fact {number}")["results"][0]["id"] for number in range(30)]
    # key, space, then lock, update, history (and the savepoint the test's transaction adds) for any size
    with django_assert_max_num_queries(7):
        response = api.delete(base(space) + "v1/batch/", {"memories": [{"memory_id": i} for i in [*ids, ids[0]]]},
                              format="json")
    assert response.json() == {"message": "Successfully deleted 30 memories"}
    assert Memory.objects.alive().filter(space=space).count() == 0
    deletes = MemoryHistory.objects.filter(space=space, event="DELETE")
    assert sorted(str(row.memory_id) for row in deletes) == sorted(ids)
    assert {row.old_memory for row in deletes} == {f"fact {number}" for number in range(30)}


def test_batch_delete_naming_a_missing_memory_deletes_nothing_even_with_a_repeated_id(api, space):
    memory_id = add(api, space, "Likes tea")["results"][0]["id"]
    named = [{"memory_id": memory_id}, {"memory_id": memory_id}, {"memory_id": str(uuid.uuid4())}]
    response = api.delete(base(space) + "v1/batch/", {"memories": named}, format="json")
    assert (response.status_code, response.json()) == (404, {"detail": "Memory not found"})
    assert Memory.objects.alive().filter(pk=memory_id).exists()


def test_batch_update_applies_every_change_in_order_in_a_few_statements(api, space,
                                                                         django_assert_max_num_queries):
    ids = [add(api, space, f"fact {number}")["results"][0]["id"] for number in range(20)]
    changes = [{"memory_id": i, "text": f"fact {number}, edited"} for number, i in enumerate(ids)]
    changes.append({"memory_id": ids[0], "metadata": {"checked": True}})  # the same memory again, later
    # key, space, embedder check, then lock, update, history (and the test transaction's savepoint)
    with django_assert_max_num_queries(8):
        response = api.put(base(space) + "v1/batch/", {"memories": changes}, format="json")
    assert response.json() == {"message": "Successfully updated 21 memories"}
    first = Memory.objects.get(pk=ids[0])
    assert (first.memory, first.metadata) == ("fact 0, edited", {"checked": True})
    np.testing.assert_allclose(Memory.objects.get(pk=ids[7]).embedding, embed(["fact 7, edited"])[0], atol=1e-6)
    assert set(Memory.objects.filter(pk__in=ids).values_list("memory", flat=True)) == {
        f"fact {number}, edited" for number in range(20)}
    # named twice, one step in its history: from before the batch to after it
    steps = MemoryHistory.objects.filter(memory_id=ids[0], event="UPDATE")
    assert [(row.old_memory, row.new_memory, row.metadata) for row in steps] == [
        ("fact 0", "fact 0, edited", {"checked": True})]


def test_batch_update_with_an_immutable_memory_changes_nothing(api, space):
    mutable = add(api, space, "Likes tea")["results"][0]["id"]
    fixed = add(api, space, "Blood type is O+", immutable=True)["results"][0]["id"]
    changes = [{"memory_id": mutable, "text": "Likes coffee"}, {"memory_id": fixed, "text": "Blood type is A"}]
    assert api.put(base(space) + "v1/batch/", {"memories": changes}, format="json").status_code == 409
    assert Memory.objects.get(pk=mutable).memory == "Likes tea"
    assert not MemoryHistory.objects.filter(space=space, event="UPDATE").exists()


def test_batch_update_of_a_memory_without_text_or_metadata_is_a_422_and_changes_nothing(api, space):
    """As the update of one memory: an item that changes nothing was "updated", its updated_at moved and an
    UPDATE history step written from its text to the same text."""
    edited, untouched = (add(api, space, text)["results"][0]["id"] for text in ("Likes tea", "Owns a bike"))
    before = Memory.objects.get(pk=untouched).updated_at
    changes = [{"memory_id": edited, "text": "Likes coffee"}, {"memory_id": untouched}]

    response = api.put(base(space) + "v1/batch/", {"memories": changes}, format="json")

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", "memories", 1]]
    assert (Memory.objects.get(pk=edited).memory, Memory.objects.get(pk=untouched).updated_at) == (
        "Likes tea", before)
    assert not MemoryHistory.objects.filter(space=space, event="UPDATE").exists()


def test_v2_get_all_and_search_in_the_1x_shapes(api, space):
    add(api, space, "Deploys on Fridays using ArgoCD")
    add(api, space, "Has a cat named Tuna")
    listed = api.post(base(space) + "v2/memories/", {"filters": {"user_id": "alice"}, "org_id": "x"},
                      format="json").json()
    assert listed["count"] == 2
    top_level = api.post(base(space) + "v2/memories/", {"user_id": "alice"}, format="json").json()
    assert top_level["count"] == 2
    found = api.post(base(space) + "v2/memories/search/", {"query": "deployment day", "user_id": "alice",
                                                            "top_k": 1}, format="json").json()
    assert [hit["memory"] for hit in found["results"]] == ["Deploys on Fridays using ArgoCD"]


def test_v1_search_of_the_seed_does_not_need_an_entity(api, space):
    add(api, space, "Speaks Portuguese")
    found = api.post(base(space) + "v1/memories/search/", {"query": "languages spoken"}, format="json").json()
    assert found["results"][0]["memory"] == "Speaks Portuguese"


@pytest.mark.parametrize("route", ["v2/memories/", "v3/memories/", "v2/memories/search/", "v3/memories/search/",
                                   "v3/memories/add/", "v1/memories/"])
def test_routes_that_need_an_entity_id_say_so_with_400(api, space, route):
    body = {"query": "x", "messages": [{"role": "user", "content": "x"}], "filters": {"app_id": "only-app"}}
    response = api.post(base(space) + route, body, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "At least one of user_id, agent_id, or run_id must be provided."}


@pytest.mark.parametrize("route", ["v2/memories/", "v3/memories/", "v2/memories/search/", "v3/memories/search/"])
def test_an_or_whose_every_branch_names_an_entity_is_enough(api, space, route):
    add(api, space, "Alice likes tea")
    add(api, space, "Bob likes coffee", user_id="bob")
    add(api, space, "Carol likes juice", user_id="carol")
    body = {"query": "drinks", "filters": {"OR": [{"user_id": "alice"}, {"user_id": "bob"}]}}
    response = api.post(base(space) + route, body, format="json")
    assert response.status_code == 200
    assert {m["user_id"] for m in response.json()["results"]} == {"alice", "bob"}
    for filters in ({"OR": [{"user_id": "alice"}, {"app_id": "any"}]}, {"NOT": [{"user_id": "carol"}]}):
        response = api.post(base(space) + route, {"query": "drinks", "filters": filters}, format="json")
        assert response.status_code == 400


def test_delete_all_accepts_the_python_literal_filters_the_client_sends(api, space):
    add(api, space, "a")
    add(api, space, "b", user_id="bob")
    response = api.delete(base(space) + "v1/memories/?filters=" + "{'user_id': 'alice'}")
    assert response.status_code == 200
    assert set(Memory.objects.alive().values_list("user_id", flat=True)) == {"bob"}


@pytest.mark.parametrize("query", ["", "?filters=not-a-dict", "?filters=__import__('os')"])
def test_delete_all_refuses_without_a_usable_filter(api, space, query):
    add(api, space, "kept")
    response = api.delete(base(space) + "v1/memories/" + query)
    assert response.status_code in (400, 422)
    assert Memory.objects.alive().count() == 1


@pytest.mark.parametrize("filters", [
    "{'user_id': 'a\\x00b'}",                                # a NUL, in the Python literal the client sends
    '{"user_id": "a\\u0000b"}',                              # and in JSON
    "{'metadata': " * 40 + "1" + "}" * 40,                  # deeper than a JSON body may be
    '{"metadata": ' * 40 + "1" + "}" * 40,
    "{'metadata': {[1]: 2}}",                               # no dict at all (literal_eval: TypeError)
    "[" * 4000 + "]" * 4000,                                # json.loads: RecursionError
    "-" * 9000 + "1",                                       # literal_eval: MemoryError
    "{'user_id': 'alice', 'metadata': {'k': {1, 2}}}",      # a set: a literal, not JSON
    "{'user_id': 'alice', 'metadata': {'k': b'x'}}",        # bytes
    "{'user_id': 'alice', 'metadata': {'k': 1e999}}",       # infinite
    '{"user_id": "alice", "metadata": {"k": NaN}}',         # json.loads takes NaN and Infinity
    '{"user_id": "alice", "metadata": {"k": Infinity}}',
    '{"user_id": "alice", "metadata": {"k": "\\ud800"}}',    # a lone surrogate
])
def test_delete_all_holds_query_filters_to_the_bounds_of_json_with_a_422(api, space, filters):
    add(api, space, "kept")
    response = api.delete(base(space) + "v1/memories/?" + urlencode({"filters": filters}))
    assert response.status_code == 422, response.content[:300]
    assert [error["loc"] for error in response.json()["detail"]] == [["query", "filters"]]
    assert Memory.objects.alive().count() == 1


def test_async_mode_answers_pending_at_once_with_an_event_id(api, space):
    body = add(api, space, "Queued memory", route="v3/memories/add/", async_mode=True)
    assert body["status"] == "PENDING" and body["results"] == []
    status = api.get(base(space) + f"v1/event/{body['event_id']}/").json()
    assert status["event_id"] == body["event_id"] and status["status"] in ("PENDING", "RUNNING", "SUCCEEDED")


def test_offline_extraction_follows_includes_beside_the_spaces_custom_instructions(api, space):
    space.custom_instructions = "Ignore anything about coffee."
    space.save()
    body = add(api, space, "I drink green tea. I drink black coffee. I live in Paris.", route="v3/memories/add/",
               infer=True, includes="drinks")
    assert [result["memory"] for result in body["results"]] == ["Drinks green tea"]


def test_offline_extraction_takes_a_bounded_number_of_facts_in_one_add(api, space):
    """Deciding compares every fact with every other: one message of 47,000 characters held 2,000 facts and
    took 16 s to decide, 100 such messages would take days. Up to the cap they are all stored; past it, a 422."""
    sentences = [f"I like thing{i}." for i in range(MAX_OFFLINE_FACTS + 1)]
    body = add(api, space, " ".join(sentences[:-1]), route="v3/memories/add/", infer=True)
    assert [result["memory"] for result in body["results"]] == [f"Likes thing{i}" for i in range(MAX_OFFLINE_FACTS)]

    response = api.post(base(space) + "v3/memories/add/", {"messages": " ".join(sentences), "user_id": "bob"},
                        format="json")
    assert response.status_code == 422, response.content
    [entry] = response.json()["detail"]
    assert entry["loc"] == ["body", "messages"] and entry["type"] == "too_long"
    assert f"at most {MAX_OFFLINE_FACTS} facts" in entry["msg"]
    assert not Memory.objects.filter(space=space, user_id="bob").exists()


def test_an_inferred_add_reads_the_memories_near_its_facts_in_queries_that_do_not_grow_with_them(api, space):
    """The memories each fact is compared with were read a query per fact."""
    def queries(count: int, user: str) -> int:
        add(api, space, "Likes thing0", user_id=user)
        text = " ".join(f"I like thing{i}." for i in range(count))
        with CaptureQueriesContext(connection) as context:
            body = add(api, space, text, route="v3/memories/add/", infer=True, user_id=user)
        assert len(body["results"]) == count - 1  # the user already likes thing0
        return len(context)

    assert queries(2, "bob") == queries(40, "carol")


@pytest.mark.parametrize(("ids", "with_assistant", "expected"), [
    ({"user_id": "alice"}, True, ["Drinks green tea"]),
    ({"agent_id": "bot"}, False, ["Drinks green tea"]),
    ({"agent_id": "bot", "user_id": "alice"}, True, ["Drinks green tea", "Always answers in French"]),
])
def test_offline_extraction_reads_the_assistant_in_agent_scope_only(api, space, ids, with_assistant, expected):
    messages = [{"role": "user", "content": "I drink green tea."}]
    if with_assistant:
        messages.append({"role": "assistant", "content": "I always answer in French."})
    response = api.post(base(space) + "v3/memories/add/", {"messages": messages, **ids}, format="json")
    assert [result["memory"] for result in response.json()["results"]] == expected


IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}


def test_add_takes_content_parts_and_roles_it_does_not_store(api, space):
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Likes tea"}, IMAGE,
                                     {"type": "text", "text": "Lives in Paris"}]},
        {"role": "user", "content": [IMAGE]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function"}]},
        {"role": "tool", "content": '{"weather": "sunny"}', "tool_call_id": "1"},
        {"role": "assistant", "content": "Noted"},
    ]
    body = add(api, space, "", route="v3/memories/add/", messages=messages)
    assert [result["memory"] for result in body["results"]] == ["Likes tea\nLives in Paris", "Noted"]
    assert add(api, space, "", route="v3/memories/add/", messages=[{"role": "user", "content": [IMAGE]}],
               infer=True)["results"] == []


def test_unknown_event_is_404(api, space):
    response = api.get(base(space) + "v1/event/00000000-0000-0000-0000-000000000000/")
    assert response.status_code == 404


def test_feedback_is_kept_for_a_memory_of_the_space_only(api, space, other_api):
    memory_id = add(api, space, "Speaks French")["results"][0]["id"]
    url = base(space) + "v1/feedback/"
    assert api.post(url, {"memory_id": "00000000-0000-0000-0000-000000000000", "feedback": "POSITIVE"},
                    format="json").status_code == 404
    assert other_api.post(url, {"memory_id": memory_id}, format="json").status_code == 404
    answer = api.post(url, {"memory_id": memory_id, "feedback": "NEGATIVE"}, format="json")
    assert answer.status_code == 200
    assert answer.json() == {"message": "Feedback recorded successfully", "memory_id": memory_id,
                             "feedback": "NEGATIVE"}
    assert list(MemoryFeedback.objects.values_list("memory_id", "feedback", "feedback_reason")) == [
        (uuid.UUID(memory_id), "NEGATIVE", None)]


@pytest.mark.parametrize(("body", "loc"), [
    ({"messages": [], "user_id": "a"}, ["body", "messages"]),
    ({"messages": [{"role": 7, "content": "x"}], "user_id": "a"}, ["body", "messages", 0, "role"]),
    ({"messages": [{"role": "user", "content": ["x"]}], "user_id": "a"}, ["body", "messages", 0, "content"]),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "x" * 50_001}]}], "user_id": "a"},
     ["body", "messages", 0, "content"]),
    ({"messages": [{"role": "tool", "content": "{}"}] * 101, "user_id": "a"}, ["body", "messages"]),
    ({"messages": [{"role": "user", "content": ""}], "user_id": "a"}, ["body", "messages", 0, "content"]),
    ({"messages": "hi", "user_id": "u" * 65}, ["body", "user_id"]),
    ({"messages": "hi", "filters": {"user_id": "u" * 65}}, ["body", "filters", "user_id"]),
    ({"messages": "hi", "filters": {"AND": [{"agent_id": {"eq": "a" * 65}}]}}, ["body", "filters", "agent_id"]),
    ({"messages": "hi", "user_id": "a", "filters": {"run_id": "r" * 65}}, ["body", "filters", "run_id"]),
    ({"messages": "hi", "user_id": "a", "expiration_date": "next week"}, ["body", "expiration_date"]),
    ({"messages": "hi", "user_id": "a", "timestamp": "yesterday"}, ["body", "timestamp"]),
    ({"messages": "hi", "user_id": "a", "metadata": [1, 2]}, ["body", "metadata"]),
    ({"messages": "hi", "user_id": "a", "output_format": "v9"}, ["body", "output_format"]),
])
def test_add_rejects_bad_input_with_422_and_writes_nothing(api, space, body, loc):
    response = api.post(base(space) + "v3/memories/add/", body, format="json")
    assert response.status_code == 422
    assert loc in [error["loc"] for error in response.json()["detail"]]
    assert not Memory.objects.exists()


def test_an_async_add_with_a_too_long_id_in_filters_is_refused_before_it_is_queued(api, space):
    body = {"messages": "hi", "filters": {"user_id": "u" * 65}, "infer": False, "async_mode": True}
    response = api.post(base(space) + "v3/memories/add/", body, format="json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "filters", "user_id"]
    assert not AddRequest.objects.exists()


@pytest.mark.parametrize(("body", "loc"), [
    ({"query": "", "filters": {"user_id": "a"}}, ["body", "query"]),
    ({"query": "x", "filters": {"user_id": "a"}, "top_k": 51}, ["body", "top_k"]),
    ({"query": "x", "filters": {"user_id": "a"}, "top_k": 0}, ["body", "top_k"]),
    ({"query": "x", "filters": {"user_id": "a"}, "threshold": 2}, ["body", "threshold"]),
    ({"query": "x", "filters": {"user_id": "a"}, "threshold": True}, ["body", "threshold"]),  # was taken as 1.0
    ({"query": "x", "filters": {"user_id": "a"}, "top_k": True}, ["body", "top_k"]),
    ({"query": "x", "filters": {"user_id": {"regex": ".*"}}}, ["body", "filters", "user_id", "regex"]),
])
def test_search_rejects_bad_input_with_422(api, space, body, loc):
    response = api.post(base(space) + "v3/memories/search/", body, format="json")
    assert response.status_code == 422
    assert loc in [error["loc"] for error in response.json()["detail"]]


def test_an_add_is_deduplicated_in_its_exact_scope_only(api, space):
    """A text a run of alice holds does not stand in for alice's own memory, nor the other way round; the
    same text in the same scope is stored once."""
    add(api, space, "Likes tea", run_id="session-1")
    assert [r["event"] for r in add(api, space, "Likes tea")["results"]] == ["ADD"]
    assert [r["event"] for r in add(api, space, "Likes tea", agent_id="bot")["results"]] == ["ADD"]
    assert add(api, space, "Likes tea")["results"] == []
    assert add(api, space, "Likes tea", run_id="session-1")["results"] == []
    api.delete(base(space) + "v1/memories/?run_id=session-1")
    left = Memory.objects.alive().filter(user_id="alice", memory="Likes tea")
    assert sorted((m.agent_id or "", m.run_id or "") for m in left) == [("", ""), ("bot", "")]


@pytest.mark.parametrize(("schema", "error_type"), [
    ("[" * 100_000, "json_invalid"),                        # json.loads: RecursionError
    ("{not json", "json_invalid"),
    ('{"properties": {"a\\u0000": {}}}', "nul"),            # jsonb cannot store it
    ('{"properties": ' * 40 + "{}" + "}" * 40, "too_deep"),
    ('{"properties": {}}', "value_error"),
    ({"type": "object"}, "value_error"),
])
def test_export_refuses_a_schema_it_cannot_use_with_a_422(api, space, schema, error_type):
    add(api, space, "Likes tea")
    response = api.post(base(space) + "v1/exports/", {"schema": schema, "user_id": "alice"}, format="json")
    assert response.status_code == 422, response.content[:300]
    assert [(e["loc"], e["type"]) for e in response.json()["detail"]] == [(["body", "schema"], error_type)]
    assert not MemoryExport.objects.exists()


def test_an_export_larger_than_its_cap_is_a_422_and_keeps_nothing(api, space, monkeypatch):
    """An export is one jsonb value (PostgreSQL: 256 MB at most): 10,000 memories of 50,000 characters were
    read whole into the worker (4.4 GB) and then refused by the database as a 503. Here the cap is made small:
    two memories of 600 characters fit 1,500 bytes, three do not."""
    monkeypatch.setattr(services, "EXPORT_MAX_BYTES", 1500)
    schema = {"properties": {"memory": {"type": "string"}}}
    for i in range(2):
        add(api, space, f"{i} " + "x" * 600)
    assert api.post(base(space) + "v1/exports/", {"schema": schema, "user_id": "alice"},
                    format="json").status_code == 200

    add(api, space, "2 " + "x" * 600)
    response = api.post(base(space) + "v1/exports/", {"schema": schema, "user_id": "alice"}, format="json")
    assert response.status_code == 422, response.content
    [entry] = response.json()["detail"]
    assert entry["loc"] == ["body"] and entry["type"] == "too_long" and "at 3 memories" in entry["msg"]
    assert MemoryExport.objects.count() == 1


@pytest.mark.parametrize("route", ["v1/exports/", "v1/exports/get/"])
def test_export_routes_hold_ids_in_filters_to_their_bounds(api, space, route):
    body = {"schema": {"properties": {"memory": {}}}, "filters": {"user_id": "u" * 65}}
    response = api.post(base(space) + route, body, format="json")
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "filters", "user_id"]]


def test_expired_memories_are_hidden_unless_asked_for(api, space):
    add(api, space, "Old coupon code", expiration_date="2000-01-01")
    add(api, space, "Current coupon code", expiration_date="2999-01-01")
    listed = api.post(base(space) + "v3/memories/", {"filters": {"user_id": "alice"}}, format="json").json()
    assert [m["memory"] for m in listed["results"]] == ["Current coupon code"]
    everything = api.post(base(space) + "v3/memories/", {"filters": {"user_id": "alice"}, "show_expired": True},
                          format="json").json()
    assert everything["count"] == 2


@pytest.mark.parametrize("route", ["v1/memories/", "memories"])
def test_the_query_string_listings_show_expired_memories_when_asked(api, space, route):
    # GET /v1/memories/ (seed) and GET /memories (mem0's server takes ?show_expired=true) hide them by default
    add(api, space, "Old coupon code", expiration_date="2000-01-01")
    add(api, space, "Current coupon code")
    listed = api.get(base(space) + route, {"user_id": "alice"}).json()["results"]
    assert [m["memory"] for m in listed] == ["Current coupon code"]
    everything = api.get(base(space) + route, {"user_id": "alice", "show_expired": "true"}).json()["results"]
    assert [m["memory"] for m in everything] == ["Current coupon code", "Old coupon code"]


def test_timestamp_sets_created_at(api, space):
    result = add(api, space, "Graduated", route="v3/memories/add/", timestamp=1_700_000_000)
    memory = api.get(base(space) + f"v1/memories/{result['results'][0]['id']}/").json()
    assert memory["created_at"].startswith("2023-11-14T22:13:20")


@pytest.mark.parametrize(("timestamp", "created_at"), [
    ("2024-07-31T12:00:00Z", "2024-07-31T12:00:00"),          # seed 001: MemoryUpdate.timestamp is a string
    ("2024-07-31T14:00:00+02:00", "2024-07-31T12:00:00"),
    ("2024-07-31T12:00:00", "2024-07-31T12:00:00"),           # no offset: UTC
    (1_722_427_200, "2024-07-31T12:00:00"),
    ("1722427200.5", "2024-07-31T12:00:00.5"),
])
def test_update_and_add_take_a_timestamp_in_unix_seconds_or_iso_8601(api, space, timestamp, created_at):
    memory_id = add(api, space, "Graduated")["results"][0]["id"]
    updated = api.put(base(space) + f"v1/memories/{memory_id}/", {"timestamp": timestamp}, format="json")
    assert updated.status_code == 200, updated.json()
    assert updated.json()["created_at"].startswith(created_at)
    added = add(api, space, "Moved to Berlin", route="v3/memories/add/", timestamp=timestamp)
    assert Memory.objects.get(pk=added["results"][0]["id"]).created_at.isoformat().startswith(created_at)


@pytest.mark.parametrize("timestamp", ["yesterday", "2024-13-01", "1969-12-31T23:59:59Z", "2024-07-31T12:00:00Z" * 3,
                                       True])
def test_update_refuses_a_timestamp_that_is_no_time_with_a_422(api, space, timestamp):
    memory_id = add(api, space, "Graduated")["results"][0]["id"]
    before = Memory.objects.get(pk=memory_id).created_at
    response = api.put(base(space) + f"v1/memories/{memory_id}/", {"timestamp": timestamp}, format="json")
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "timestamp"]]
    assert Memory.objects.get(pk=memory_id).created_at == before


@pytest.mark.parametrize("route", ["v1/memories/{id}/history/", "memories/{id}/history/"])
def test_history_limit_keeps_the_oldest_entries_in_order(api, space, route):
    memory_id = add(api, space, "v1")["results"][0]["id"]
    for text in ("v2", "v3"):
        api.put(base(space) + f"v1/memories/{memory_id}/", {"text": text}, format="json")
    api.delete(base(space) + f"v1/memories/{memory_id}/")
    url = base(space) + route.format(id=memory_id)
    assert [h["event"] for h in api.get(url).json()] == ["ADD", "UPDATE", "UPDATE", "DELETE"]
    limited = api.get(url + "?limit=2").json()
    assert [(h["event"], h["new_memory"]) for h in limited] == [("ADD", "v1"), ("UPDATE", "v2")]
    assert len(api.get(url + "?limit=1000").json()) == 4
    for junk in ("0", "-1", "1001", "two"):
        response = api.get(url + "?limit=" + junk)
        assert response.status_code == 422, junk
        assert [e["loc"] for e in response.json()["detail"]] == [["query", "limit"]]


def test_update_never_moves_a_memory_to_another_entity(api, space):
    memory_id = add(api, space, "Mine")["results"][0]["id"]
    response = api.put(base(space) + f"v1/memories/{memory_id}/",
                       {"text": "Still mine", "metadata": {"user_id": "mallory"}, "user_id": "mallory"},
                       format="json")
    assert response.status_code == 200
    memory = Memory.objects.get(pk=memory_id)
    assert (memory.user_id, memory.memory, memory.metadata) == ("alice", "Still mine", {"user_id": "mallory"})


def test_categories_are_stored_and_filterable(api, space):
    add(api, space, "Flies to Lisbon in May", categories=["travel"])
    add(api, space, "Eats vegan", categories=["food"])
    found = api.post(base(space) + "v3/memories/", {"filters": {"AND": [{"user_id": "alice"},
                                                                          {"categories": {"contains": "travel"}}]}},
                     format="json").json()
    assert [m["memory"] for m in found["results"]] == ["Flies to Lisbon in May"]


@pytest.mark.parametrize(("condition", "matches"), [
    ({"lte": "9999-12-31"}, True),
    ({"gt": "9999-12-31"}, False),
    ({"eq": "9999-12-31"}, False),
    ({"gte": "2024-07-31T12:00:00+23:59"}, True),  # an offset PostgreSQL refuses: sent in UTC
])
def test_dates_at_the_edges_filter_listings_searches_and_deletes(api, space, condition, matches):
    """Each was a 500: 9999-12-31 has no next day to end at, and PostgreSQL refuses offsets beyond 15:59."""
    add(api, space, "Likes tea")
    filters = {"user_id": "alice", "created_at": condition}
    listed = api.post(base(space) + "v3/memories/", {"filters": filters}, format="json")
    searched = api.post(base(space) + "v3/memories/search/", {"query": "tea", "filters": filters}, format="json")
    expected = ["Likes tea"] if matches else []
    for response in (listed, searched):
        assert response.status_code == 200
        assert [m["memory"] for m in response.json()["results"]] == expected
    deleted = api.delete(base(space) + "v1/memories/?" + urlencode({"filters": json.dumps(filters)}))
    assert deleted.status_code == 200
    assert Memory.objects.alive().count() == (0 if matches else 1)


# --- mem0's open-source server shape -----------------------------------------------------------------------
@pytest.mark.parametrize("slash", ["", "/"])
def test_oss_shape_full_cycle(api, space, slash):
    root = base(space)
    created = api.post(root + "memories" + slash, {"messages": [{"role": "user", "content": "Runs marathons"}],
                                                   "user_id": "alice", "infer": False}, format="json")
    assert created.status_code == 200
    memory_id = created.json()["results"][0]["id"]
    assert api.get(root + "memories" + slash, {"user_id": "alice"}).json()["results"][0]["id"] == memory_id
    assert api.get(root + f"memories/{memory_id}" + slash).json()["memory"] == "Runs marathons"
    assert api.put(root + f"memories/{memory_id}" + slash, {"data": "Runs ultramarathons"},
                   format="json").json()["memory"] == "Runs ultramarathons"
    hits = api.post(root + "search" + slash, {"query": "running", "user_id": "alice"}, format="json").json()
    assert hits["results"][0]["id"] == memory_id
    history = api.get(root + f"memories/{memory_id}/history" + slash).json()
    assert [h["event"] for h in history] == ["ADD", "UPDATE"]
    assert api.delete(root + f"memories/{memory_id}" + slash).status_code == 200
    gone = api.get(root + f"memories/{memory_id}" + slash)
    assert (gone.status_code, gone.json()) == (200, None)


def test_oss_get_of_a_missing_memory_answers_null_as_mem0s_server_does(api, space):
    """mem0's `GET /memories/{id}` returns what `Memory.get` does: None for an id it does not hold."""
    response = api.get(base(space) + f"memories/{uuid.uuid4()}")
    assert (response.status_code, response.json()) == (200, None)
    assert_conforms(response, "GET", "/api/v2/memory/{space_id}/memories/{memory_id}/")


def test_oss_list_without_an_entity_id_is_a_400_not_the_whole_space(api, space):
    """mem0's server answered 400 here ("At least one identifier is required."); ours listed every memory."""
    add(api, space, "Likes tea")
    for query in ("", "?top_k=5", "?app_id=shop"):
        response = api.get(base(space) + "memories" + query)
        assert (response.status_code, response.json()) == (400, {"detail": NEED_ENTITY})
    assert_conforms(response, "GET", "/api/v2/memory/{space_id}/memories/")
    assert len(api.get(base(space) + "memories?user_id=alice").json()["results"]) == 1


def test_oss_delete_all_needs_an_entity_and_reset_wipes_the_space(api, space):
    add(api, space, "x")
    assert api.delete(base(space) + "memories").status_code == 400
    assert api.delete(base(space) + "memories?user_id=alice").status_code == 200
    add(api, space, "y")
    assert "1 memories deleted" in api.post(base(space) + "reset").json()["message"]
    assert not Memory.objects.alive().exists()


def test_oss_configure_sets_the_spaces_llm_but_never_stores_a_key(api, space):
    response = api.post(base(space) + "configure", {"llm": {"provider": "openai", "config": {
        "model": "gpt-4o-mini", "openai_base_url": "http://127.0.0.1:9/v1", "api_key": "sk-secret"}},
        "custom_fact_extraction_prompt": "Only deployment facts"}, format="json")
    assert response.status_code == 200 and "not stored" in response.json()["message"]
    space.refresh_from_db()
    assert (space.llm_model_name, space.llm_base_url, space.custom_instructions) == (
        "gpt-4o-mini", "http://127.0.0.1:9/v1", "Only deployment facts")
    assert "sk-secret" not in str(space.__dict__)
    other = api.post(base(space) + "configure", {"llm": {"provider": "ollama", "config": {"model": "llama3"}}},
                     format="json")
    space.refresh_from_db()
    assert other.status_code == 200 and space.llm_model_name == "ollama/llama3"


@pytest.mark.parametrize(("body", "loc", "error_type"), [
    ({"llm": {"config": {"model": "m" * 201}}}, ["body", "llm", "config", "model"], "string_too_long"),
    ({"llm": {"provider": "ollama", "config": {"model": ["llama3"]}}}, ["body", "llm", "config", "model"],
     "string_type"),
    ({"llm": {"config": {"openai_base_url": "ftp://example.com"}}}, ["body", "llm", "config", "openai_base_url"],
     "invalid"),
    ({"llm": {"provider": "vllm", "config": {"vllm_base_url": "nowhere"}}},
     ["body", "llm", "config", "vllm_base_url"], "invalid"),
    ({"custom_fact_extraction_prompt": "x" * 10_001}, ["body", "custom_fact_extraction_prompt"], "string_too_long"),
])
def test_oss_configure_validates_like_the_space_patch_naming_the_callers_fields(api, space, body, loc, error_type):
    """The errors used to name the space's fields (llmModelName, llmBaseUrl), which the caller never sent."""
    response = api.post(base(space) + "configure", body, format="json")
    assert response.status_code == 422
    assert [(error["loc"], error["type"]) for error in response.json()["detail"]] == [(loc, error_type)]
    space.refresh_from_db()
    assert (space.llm_model_name, space.llm_base_url, space.custom_instructions) == (None, None, None)


def test_a_wildcard_entity_filter_searches_the_whole_space(api, space):
    add(api, space, "Alice likes tea")
    add(api, space, "Bob likes coffee", user_id="bob")
    found = api.post(base(space) + "v3/memories/search/", {"query": "drinks", "filters": {"user_id": "*"}},
                     format="json")
    assert found.status_code == 200
    assert {hit["user_id"] for hit in found.json()["results"]} == {"alice", "bob"}
    listed = api.post(base(space) + "v3/memories/", {"filters": {"user_id": "*"}}, format="json").json()
    assert listed["count"] == 2


@pytest.mark.parametrize(("filters", "expected"), [
    ({"AND": [{"user_id": "alice"}, {"metadata": {"cups": {"lt": 3}}}]}, {"Alice likes tea"}),
    ({"user_id": {"in": []}}, set()),  # matches nothing: no statement to run
])
def test_search_takes_filters_that_are_expressions_or_match_nothing(api, space, filters, expected):
    add(api, space, "Alice likes tea", metadata={"cups": 2})
    add(api, space, "Alice likes coffee", metadata={"cups": 5})
    found = api.post(base(space) + "v3/memories/search/", {"query": "drinks", "filters": filters}, format="json")
    assert found.status_code == 200
    assert {hit["memory"] for hit in found.json()["results"]} == expected


def test_a_text_whose_only_copy_has_expired_is_stored_again(api, space):
    """Nobody sees an expired memory: it must not swallow the same text added again."""
    add(api, space, "Has a season ticket", expiration_date="2020-01-01")
    again = add(api, space, "Has a season ticket")
    assert [r["event"] for r in again["results"]] == ["ADD"]
    listed = api.post(base(space) + "v2/memories/", {"filters": {"user_id": "alice"}}, format="json").json()
    assert [m["memory"] for m in listed["results"]] == ["Has a season ticket"]


FOOD_AND_TRAVEL = [{"food": "Anything about food and drinks"}, {"travel": "Trips, places, holidays and flights"}]


def categories_of(space):
    return {m.memory: m.categories for m in Memory.objects.filter(space=space)}


def add_each(api, space, texts, **fields):
    return add(api, space, None, messages=[{"role": "user", "content": text} for text in texts], **fields)


@pytest.mark.parametrize(("custom_categories", "loc"), [
    ({"food": "Anything about food"}, ["custom_categories"]),  # an object, not a list of them
    ("food", ["custom_categories"]),
    (["food"], ["custom_categories", 0]),
    ([{}], ["custom_categories", 0]),
    ([{"food": "Meals", "travel": "Trips"}], ["custom_categories", 0]),
    ([{"food": 1}], ["custom_categories", 0, "food"]),
    ([{"food": None}], ["custom_categories", 0, "food"]),
    ([{"food": "x" * 1001}], ["custom_categories", 0, "food"]),
    ([{"": "Nameless"}], ["custom_categories", 0]),
    ([{"n" * 101: "A long name"}], ["custom_categories", 0]),
    ([{"food\x00": "A NUL"}], ["custom_categories", 0]),
    ([{"food": "Meals"}, {"food": "Drinks"}], ["custom_categories"]),
    ([{f"c{index}": ""} for index in range(51)], ["custom_categories"]),
])
@pytest.mark.parametrize("route", ["v1/memories/", "v3/memories/add/"])
def test_malformed_custom_categories_are_a_422_and_store_nothing(api, space, route, custom_categories, loc):
    response = api.post(base(space) + route, {"messages": "Loves sushi", "user_id": "alice", "infer": False,
                                              "custom_categories": custom_categories}, format="json")
    assert response.status_code == 422, response.json()
    assert [error["loc"] for error in response.json()["detail"]] == [["body", *loc]]
    assert not Memory.objects.filter(space=space).exists()


def test_custom_categories_at_their_bounds_are_taken(api, space):
    longest = [{"n" * 100: "x" * 1000}, {"food": ""}, *({f"c{index}": "unused"} for index in range(48))]
    add(api, space, "Loves sushi", custom_categories=longest)
    add(api, space, "Loves ramen", custom_categories=None)
    stored = categories_of(space)
    assert "food" in stored["Loves sushi"] and stored["Loves ramen"] == []


@pytest.mark.parametrize("route", ["v1/memories/", "v3/memories/add/", "memories/"])
def test_each_verbatim_memory_gets_the_custom_categories_that_fit_it(api, space, route):
    """Offline: the space's embedder and the category's name; a memory about neither gets none."""
    add_each(api, space, ["Loves sushi and ramen", "Works as a backend engineer at Acme", "Planning a trip to Japan"],
             route=route, custom_categories=FOOD_AND_TRAVEL)
    assert categories_of(space) == {"Loves sushi and ramen": ["food"], "Works as a backend engineer at Acme": [],
                                    "Planning a trip to Japan": ["travel"]}


def test_custom_categories_come_after_the_explicit_ones_once_each(api, space):
    add(api, space, "Loves sushi and ramen", categories=["likes", "food"], custom_categories=FOOD_AND_TRAVEL)
    add(api, space, "Has a golden retriever", categories=["pets"], custom_categories=FOOD_AND_TRAVEL)
    assert categories_of(space) == {"Loves sushi and ramen": ["likes", "food"], "Has a golden retriever": ["pets"]}


def test_inferred_memories_added_and_updated_get_the_custom_categories_that_fit(api, space):
    """An UPDATE keeps the memory's own categories and gains the fitting ones."""
    add(api, space, "My favourite city is Rome", infer=True, categories=["likes"])
    result = add(api, space, "My favourite city is Lisbon. I love sushi.", infer=True,
                 custom_categories=[{"city": "Towns and cities"}, *FOOD_AND_TRAVEL])
    assert sorted((r["event"], r["memory"]) for r in result["results"]) == [
        ("ADD", "Loves sushi"), ("UPDATE", "Favourite city is Lisbon")]
    assert categories_of(space) == {"Favourite city is Lisbon": ["likes", "city", "travel"],
                                    "Loves sushi": ["food"]}


def test_a_listing_selects_by_an_assigned_custom_category(api, space):
    add_each(api, space, ["Loves sushi and ramen", "Works as a backend engineer at Acme"],
             custom_categories=FOOD_AND_TRAVEL)
    found = api.post(base(space) + "v3/memories/", {"filters": {"AND": [{"user_id": "alice"},
                                                                          {"categories": {"in": ["food"]}}]}},
                     format="json").json()
    assert [m["memory"] for m in found["results"]] == ["Loves sushi and ramen"]
    listed = api.get(base(space) + "v1/memories/", {"user_id": "alice", "categories": "food"}).json()
    assert [m["memory"] for m in listed["results"]] == ["Loves sushi and ramen"]


@pytest.mark.parametrize(("method", "route", "body"), [
    ("delete", "v1/memories/{id}/", None),
    ("delete", "memories/{id}", None),
    ("delete", "v1/batch/", {"memories": [{"memory_id": "{id}"}]}),
    ("delete", "v1/memories/?user_id=alice", None),
    ("delete", "memories?user_id=alice", None),
    ("delete", "v2/entities/user/alice/", None),
    ("post", "v1/reset/", None),
    ("post", "reset", None),
])
def test_history_survives_every_kind_of_deletion(api, space, method, route, body):
    """Each way of deleting a memory records a DELETE, and the whole history stays readable after it; after a
    purge of the deleted memory too (only a purge of its whole space takes it)."""
    memory_id = add(api, space, "Likes hiking")["results"][0]["id"]
    api.put(base(space) + f"v1/memories/{memory_id}/", {"text": "Likes climbing"}, format="json")
    body = json.loads(json.dumps(body).replace("{id}", memory_id)) if body else None
    assert getattr(api, method)(base(space) + route.format(id=memory_id), body, format="json").status_code == 200
    assert api.get(base(space) + f"v1/memories/{memory_id}/").json() is None
    expected = [("ADD", None, "Likes hiking"), ("UPDATE", "Likes hiking", "Likes climbing"),
                ("DELETE", "Likes climbing", None)]
    history = api.get(base(space) + f"v1/memories/{memory_id}/history/").json()
    assert [(h["event"], h["old_memory"], h["new_memory"]) for h in history] == expected
    assert history[-1]["is_deleted"] is True
    Memory.objects.filter(pk=memory_id).update(deleted_at=timezone.now() - timedelta(days=30))
    call_command("purge_deleted", "--older-than", "7", "--memories")
    assert not Memory.objects.filter(pk=memory_id).exists()
    assert api.get(base(space) + f"v1/memories/{memory_id}/history/").json() == history


def test_a_memorys_history_keeps_its_order_with_the_web_processs_clock_behind_the_databases(api, space):
    """An add's ADD row is stamped by the database's clock (its INSERT), the later rows were stamped by the web
    process's: with that clock behind (another host, skewed), the UPDATE and DELETE sorted before the ADD."""
    memory_id = add(api, space, "Likes hiking")["results"][0]["id"]
    behind = timezone.now() - timedelta(minutes=10)
    with mock.patch("django.utils.timezone.now", return_value=behind):
        assert api.put(base(space) + f"v1/memories/{memory_id}/", {"text": "Likes climbing"},
                       format="json").status_code == 200
        assert api.delete(base(space) + f"v1/memories/{memory_id}/").status_code == 200
    history = api.get(base(space) + f"v1/memories/{memory_id}/history/").json()
    assert [(h["event"], h["new_memory"]) for h in history] == [
        ("ADD", "Likes hiking"), ("UPDATE", "Likes climbing"), ("DELETE", None)]


@pytest.mark.django_db(transaction=True)  # each request its own transaction, as served: its own now()
@pytest.mark.parametrize("update", ["put", "inferred"])
def test_a_memorys_times_are_the_databases_as_its_historys_whatever_the_web_processs_clock(api, space, update):
    """created_at and updated_at were stamped by the web process's clock, the history by the database's: a
    memory added on a host whose clock ran two minutes ahead and updated (a PUT, or an add's inferred UPDATE)
    on one two minutes behind showed updated_at before created_at, and neither agreed with its history."""
    before = database_now()
    with mock.patch("django.utils.timezone.now", return_value=before + timedelta(minutes=2)):
        memory_id = add(api, space, "I live in Paris", infer=update == "inferred")["results"][0]["id"]
    with mock.patch("django.utils.timezone.now", return_value=before - timedelta(minutes=2)):
        if update == "put":
            answer = api.put(base(space) + f"v1/memories/{memory_id}/", {"text": "Lives in Berlin"},
                             format="json").json()
        else:
            assert add(api, space, "I live in Berlin", infer=True)["results"][0]["event"] == "UPDATE"
    after = database_now()
    memory = api.get(base(space) + f"v1/memories/{memory_id}/").json()
    created_at, updated_at = (datetime.fromisoformat(memory[field]) for field in ("created_at", "updated_at"))
    added, updated = MemoryHistory.objects.filter(memory_id=memory_id)
    assert before <= created_at == added.created_at <= updated_at <= updated.created_at <= after
    if update == "put":  # the PUT answered the times it stored
        assert (answer["created_at"], answer["updated_at"]) == (memory["created_at"], memory["updated_at"])


@pytest.mark.parametrize(("name", "error_type"), [("%00", "nul"), ("bob%00", "nul"), ("x" * 65, "string_too_long")])
def test_an_entity_name_no_id_can_hold_is_a_422(api, space, name, error_type):
    """A NUL reached PostgreSQL (a 500); a name longer than an entity id (64) cannot name one."""
    add(api, space, "Likes tea")
    response = api.delete(base(space) + f"v2/entities/user/{name}/")
    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["loc"] == ["path", "name"]
    assert response.json()["detail"][0]["type"] == error_type
    assert Memory.objects.alive().count() == 1
    route = "/api/v2/memory/{space_id}/v2/entities/{entity_type}/{name}/"
    assert_conforms(response, "DELETE", route)
    (documented,) = [p for p in served_schema()["paths"][route]["delete"]["parameters"] if p["name"] == "name"]
    assert documented["schema"]["maxLength"] == 64


def test_the_entities_listing_is_one_page_unless_pages_are_asked_for(api, space):
    """The mem0 client's reset deletes what one listing answers, so without `page`/`page_size` every entity is
    on it; with them, a space of many users is read page by page, as memories are."""
    for text, scope in [("a1", {"user_id": "bob"}), ("a2", {"user_id": "alice", "agent_id": "bot"}),
                        ("a3", {"user_id": "alice", "run_id": "r1"})]:
        add(api, space, text, **scope)
    everything = api.get(base(space) + "v1/entities/").json()
    assert (everything["count"], everything["next"], everything["previous"]) == (4, None, None)
    assert [(e["type"], e["name"], e["total_memories"]) for e in everything["results"]] == [
        ("user", "alice", 2), ("user", "bob", 1), ("agent", "bot", 1), ("run", "r1", 1)]
    first = api.get(base(space) + "v1/entities/?page_size=3")
    assert_conforms(first, "GET", "/api/v2/memory/{space_id}/v1/entities/")
    first = first.json()
    assert first["count"] == 4 and first["previous"] is None and first["results"] == everything["results"][:3]
    second = api.get(first["next"]).json()
    assert second["results"] == everything["results"][3:] and second["next"] is None
    assert api.get(second["previous"]).json() == first
    refused = api.get(base(space) + "v1/entities/?page_size=0")
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["query", "page_size"]


def test_a_memory_text_the_add_stores_can_be_written_back_by_update_and_batch_update(api, space):
    """The add stores a message of up to MEMORY_TEXT_MAX_LENGTH characters verbatim; an update may write a text
    as long (it used to stop at 10,000), and no longer."""
    longest = ("word " * (MEMORY_TEXT_MAX_LENGTH // 5))[:-1] + "."
    memory_id = add(api, space, longest)["results"][0]["id"]
    edited = longest[:-1] + "!"
    assert api.put(base(space) + f"v1/memories/{memory_id}/", {"text": edited}, format="json").status_code == 200
    assert api.put(base(space) + "v1/batch/", {"memories": [{"memory_id": memory_id, "text": longest}]},
                   format="json").status_code == 200
    assert Memory.objects.get(pk=memory_id).memory == longest
    too_long = longest + "x"
    for response in (api.put(base(space) + f"v1/memories/{memory_id}/", {"text": too_long}, format="json"),
                     api.put(base(space) + "v1/batch/", {"memories": [{"memory_id": memory_id, "text": too_long}]},
                             format="json")):
        assert response.status_code == 422 and "too_long" in json.dumps(response.json())
    assert Memory.objects.get(pk=memory_id).memory == longest


def test_an_adds_messages_are_stored_once_for_all_the_history_rows_it_writes(api, space):
    """100 messages of 50,000 characters stored verbatim wrote the whole conversation into each of 100 history
    rows: 500 MB. Each row now points to one copy; the history answers the same."""
    messages = [{"role": "user", "content": f"message {number} " + "x" * 2000} for number in range(20)]
    response = api.post(base(space) + "v1/memories/", {"messages": messages, "user_id": "alice", "infer": False},
                        format="json")
    ids = [result["id"] for result in response.json()["results"]]
    assert len(ids) == 20 and MemoryInput.objects.filter(space=space).count() == 1
    for memory_id in ids:
        (entry,) = api.get(base(space) + f"v1/memories/{memory_id}/history/").json()
        assert entry["input"] == messages
    with connection.cursor() as cursor:
        cursor.execute("SELECT sum(pg_column_size(t)) FROM mem0_compat_memoryhistory AS t WHERE space_id = %s",
                       [space.pk])
        assert cursor.fetchone()[0] < 20 * 2000  # less than one message a row: no copy of the conversation
    # The same add again stores nothing, so no copy of its messages either; an update has no input.
    api.post(base(space) + "v1/memories/", {"messages": messages, "user_id": "alice", "infer": False}, format="json")
    api.put(base(space) + f"v1/memories/{ids[0]}/", {"text": "edited"}, format="json")
    assert MemoryInput.objects.filter(space=space).count() == 1
    assert api.get(base(space) + f"v1/memories/{ids[0]}/history/").json()[1]["input"] is None


# Seed 002's curl examples, as written there (beside the routes the mem0 clients use).
def test_seed_002_curl_update_without_the_trailing_slash_and_with_message(api, space):
    memory_id = add(api, space, "Is vegetarian")["results"][0]["id"]
    text = "I recently tried chicken and I loved it."
    response = api.put(base(space) + f"v1/memories/{memory_id}", {"message": text}, format="json")
    assert response.status_code == 200 and response.json()["memory"] == text
    history = api.get(base(space) + f"v1/memories/{memory_id}/history").json()  # no slash either
    assert [(h["event"], h["new_memory"]) for h in history] == [("ADD", "Is vegetarian"), ("UPDATE", text)]
    assert api.get(base(space) + "v1/memories/nowhere/at/all").status_code == 404  # no route with a slash either


def test_seed_002_curl_batch_routes_under_v1_memories(api, space):
    ids = [add(api, space, text)["results"][0]["id"] for text in ("Likes football", "Likes tennis", "Likes golf")]
    response = api.put(base(space) + "v1/memories/batch/", {"memories": [
        {"memory_id": ids[0], "text": "Watches football"}]}, format="json")
    assert response.json() == {"message": "Successfully updated 1 memories"}
    response = api.delete(base(space) + "v1/memories/batch/", {"memory_ids": [
        {"memory_id": ids[1]}, {"memory_id": ids[2]}]}, format="json")
    assert response.json() == {"message": "Successfully deleted 2 memories"}
    assert [m.memory for m in Memory.objects.alive().filter(space=space)] == ["Watches football"]


def test_seed_002_curl_export_routes_under_v1_memories(api, space):
    add(api, space, "Works as a data engineer")
    schema = {"properties": {"job": {"type": "string"}}}
    created = api.post(base(space) + "v1/memories/export/", {"schema": schema, "user_id": "alice"}, format="json")
    assert created.status_code == 200
    got = api.get(base(space) + "v1/memories/export/?user_id=alice")
    assert got.status_code == 200
    assert got.json() == api.post(base(space) + "v1/exports/get/", {"user_id": "alice"}, format="json").json()
    assert got.json()["created_at"].endswith("Z")  # as every answer writes times (it had +00:00)
    assert api.get(base(space) + "v1/memories/export/?user_id=bob").status_code == 404


def test_seed_002_curl_get_all_with_version_v2_reads_the_filters_in_the_body(api, space):
    """`GET /v1/memories/?version=v2` with the filters as a JSON body: they used to be ignored, and the whole
    space came back."""
    add_categorised(api, space)
    filters = {"AND": [{"user_id": "alice"}, {"categories": {"contains": "food_preferences"}}]}
    listed = api.generic("GET", base(space) + "v1/memories/?version=v2", json.dumps({"filters": filters}),
                         content_type="application/json")
    assert [m["memory"] for m in listed.json()] == ["Likes vegan food"]
    paged = api.generic("GET", base(space) + "v1/memories/?version=v2&page=1&page_size=50",
                        json.dumps({"filters": {"user_id": "alice"}}), content_type="application/json").json()
    assert paged["count"] == 3 and paged["next"] is None and len(paged["results"]) == 3
    unscoped = api.generic("GET", base(space) + "v1/memories/?version=v2", json.dumps({"filters": {}}),
                           content_type="application/json")
    assert unscoped.status_code == 400


def test_a_space_deleted_through_the_orm_takes_its_history_and_inputs_along(api, space):
    """A space deleted with Django's cascade (an operator's script, the benchmark's clean-up) takes its history
    and their inputs along: the rows' reference to their input does not stop it (PROTECT did)."""
    add(api, space, "Likes tea")
    space.delete()
    assert not MemoryHistory.objects.exists() and not MemoryInput.objects.exists()


def test_an_inferred_update_takes_the_adds_options_over_the_memorys_own(api, space):
    """mem0's update merges the metadata it is given over the memory's own: an inferred UPDATE used to keep the
    old metadata, expiration and categories, and drop what the add carried."""
    first = add(api, space, "I live in Paris", infer=True, metadata={"source": "chat", "room": "a"},
                expiration_date="2099-01-01", categories=["places"])
    memory_id = first["results"][0]["id"]
    second = add(api, space, "I live in Berlin", infer=True, metadata={"room": "b", "moved": True},
                 expiration_date="2099-06-30", categories=["home"], immutable=True)
    assert second["results"] == [{"id": memory_id, "memory": "Lives in Berlin", "event": "UPDATE",
                                  "previous_memory": "Lives in Paris"}]
    memory = api.get(base(space) + f"v1/memories/{memory_id}/").json()
    assert memory["metadata"] == {"source": "chat", "room": "b", "moved": True}
    assert (memory["expiration_date"], memory["categories"], memory["immutable"]) == (
        "2099-06-30", ["places", "home"], True)
    history = api.get(base(space) + f"v1/memories/{memory_id}/history/").json()
    assert [(h["event"], h["old_memory"], h["new_memory"], h["metadata"]) for h in history] == [
        ("ADD", None, "Lives in Paris", {"source": "chat", "room": "a"}),
        ("UPDATE", "Lives in Paris", "Lives in Berlin", {"source": "chat", "room": "b", "moved": True})]
    assert api.put(base(space) + f"v1/memories/{memory_id}/", {"text": "Lives in Rome"},
                   format="json").status_code == 409  # the add said its facts are immutable


def test_an_inferred_update_whose_merged_metadata_would_pass_the_bound_is_a_422_and_changes_nothing(api, space,
                                                                                                    settings):
    """Each add's metadata is within METADATA_MAX_BYTES, but merged over the memory's own they would not be."""
    from tests.factories import json_object_of

    settings.METADATA_MAX_BYTES = 1000
    first = add(api, space, "I live in Paris", infer=True, metadata=json_object_of(600, key="a"))
    memory_id = first["results"][0]["id"]
    body = {"messages": [{"role": "user", "content": "I live in Berlin"}], "user_id": "alice",
            "metadata": json_object_of(600, key="b")}
    refused = api.post(base(space) + "v1/memories/", body, format="json")
    assert refused.status_code == 422
    [error] = refused.json()["detail"]
    assert error["loc"] == ["body", "metadata"] and memory_id in error["msg"] and "1000" in error["msg"]
    memory = api.get(base(space) + f"v1/memories/{memory_id}/").json()
    assert (memory["memory"], list(memory["metadata"])) == ("Lives in Paris", ["a"])


def test_an_inferred_update_whose_categories_would_pass_what_a_memory_holds_is_a_422_and_changes_nothing(api,
                                                                                                       space):
    """Each add names up to 50 categories, and an inferred UPDATE adds them to the memory's own: they grew with
    every update, without bound. A memory holds at most what one add can give it (MEMORY_MAX_CATEGORIES)."""
    memory_id = add(api, space, "I live in Paris", infer=True,
                    categories=[f"a{n}" for n in range(50)])["results"][0]["id"]
    assert add(api, space, "I live in Berlin", infer=True,
               categories=[f"b{n}" for n in range(50)])["results"][0]["event"] == "UPDATE"  # 100: at the bound
    body = {"messages": [{"role": "user", "content": "I live in Rome"}], "user_id": "alice",
            "categories": ["a0", "c0"]}  # one more than the memory holds already
    refused = api.post(base(space) + "v1/memories/", body, format="json")
    assert refused.status_code == 422
    [error] = refused.json()["detail"]
    assert error["loc"] == ["body", "categories"] and memory_id in error["msg"] and "101" in error["msg"]
    memory = api.get(base(space) + f"v1/memories/{memory_id}/").json()
    assert (memory["memory"], len(memory["categories"])) == ("Lives in Berlin", 100)


def test_a_memory_holding_more_categories_than_the_bound_from_before_it_is_still_updated(api, space):
    """Before MEMORY_MAX_CATEGORIES, inferred UPDATEs grew a memory's categories without bound: such a memory,
    still in an upgraded database, is updated by an add that brings no category it lacks (nothing grows), and
    refused only by one that would give it more."""
    memory_id = add(api, space, "I live in Paris", infer=True)["results"][0]["id"]
    grown = [f"c{n}" for n in range(MEMORY_MAX_CATEGORIES + 20)]
    Memory.objects.filter(pk=memory_id).update(categories=grown)
    assert add(api, space, "I live in Berlin", infer=True, categories=["c0"])["results"][0]["event"] == "UPDATE"
    memory = api.get(base(space) + f"v1/memories/{memory_id}/").json()
    assert (memory["memory"], memory["categories"]) == ("Lives in Berlin", grown)
    body = {"messages": [{"role": "user", "content": "I live in Rome"}], "user_id": "alice", "categories": ["new"]}
    refused = api.post(base(space) + "v1/memories/", body, format="json")
    assert refused.status_code == 422 and memory_id in refused.json()["detail"][0]["msg"]


def test_an_inferred_update_without_options_keeps_the_memorys_own(api, space):
    memory_id = add(api, space, "I live in Paris", infer=True, metadata={"source": "chat"},
                    expiration_date="2099-01-01")["results"][0]["id"]
    assert add(api, space, "I live in Berlin", infer=True)["results"][0]["event"] == "UPDATE"
    memory = api.get(base(space) + f"v1/memories/{memory_id}/").json()
    assert (memory["memory"], memory["metadata"], memory["expiration_date"], memory["immutable"]) == (
        "Lives in Berlin", {"source": "chat"}, "2099-01-01", False)
