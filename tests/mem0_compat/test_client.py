"""The stock `mem0.MemoryClient` (mem0ai 2.x) and `AsyncMemoryClient` against a live server: every method the
contract lists, unchanged, pointed at one memory space. No LLM is configured, so adds with inference use the
offline extractor."""

import asyncio
from datetime import date, datetime, timedelta

import pytest
from mem0 import AsyncMemoryClient, MemoryClient
from mem0.exceptions import MemoryNotFoundError, ValidationError

from mem0_compat.models import Memory, MemoryHistory
from tests.factories import MemorySpaceFactory


@pytest.fixture(autouse=True)
def no_llm(settings):
    settings.LLM_MODEL = None
    settings.LLM_BASE_URL = None


def host_of(live_server, space, trailing=""):
    return f"{live_server.url}/api/v2/memory/{space.id}{trailing}"


@pytest.fixture
def client(live_server, api_key, space):
    return MemoryClient(host=host_of(live_server, space), api_key=api_key)


def add_verbatim(client, text, **ids):
    return client.add([{"role": "user", "content": text}], infer=False, **(ids or {"user_id": "alice"}))


def test_constructor_pings_and_learns_org_and_project(client, space, user):
    assert client.org_id == str(user.tenant_id)
    assert client.project_id == str(space.id)


def test_a_host_with_a_trailing_slash_works(live_server, api_key, space):
    client = MemoryClient(host=host_of(live_server, space, "/"), api_key=api_key)
    assert add_verbatim(client, "Likes green tea")["results"][0]["event"] == "ADD"


def test_add_without_inference_stores_each_message_verbatim(client, space):
    result = client.add([{"role": "system", "content": "be nice"},
                         {"role": "user", "content": "I deploy on Fridays using ArgoCD"},
                         {"role": "assistant", "content": "Noted: Fridays, ArgoCD."}],
                        user_id="alice", agent_id="support-bot", infer=False, metadata={"source": "chat"})
    assert result["status"] == "SUCCEEDED"
    assert [r["memory"] for r in result["results"]] == ["I deploy on Fridays using ArgoCD",
                                                       "Noted: Fridays, ArgoCD."]
    memory = client.get(result["results"][0]["id"])
    assert (memory["user_id"], memory["agent_id"], memory["metadata"]) == ("alice", "support-bot",
                                                                         {"source": "chat"})
    assert len(memory["hash"]) == 32


def test_the_same_text_is_not_stored_twice_in_one_scope(client):
    add_verbatim(client, "Prefers dark mode")
    assert add_verbatim(client, "Prefers dark mode")["results"] == []
    assert add_verbatim(client, "Prefers dark mode", user_id="bob")["results"][0]["event"] == "ADD"


def test_offline_inference_stores_the_fact_and_search_finds_it_first(client):
    client.add([{"role": "user", "content": "I deploy on Fridays using ArgoCD"}], user_id="alice")
    for text in ("Likes hiking in the Alps", "Has a cat named Tuna", "Works at Acme as an engineer"):
        add_verbatim(client, text)
    hits = client.search("when do we deploy", filters={"user_id": "alice"})["results"]
    assert "ArgoCD" in hits[0]["memory"] and "Friday" in hits[0]["memory"]
    assert all(0 <= hit["score"] <= 1 for hit in hits)
    assert [hit["score"] for hit in hits] == sorted((hit["score"] for hit in hits), reverse=True)


def test_search_honours_top_k_threshold_and_filters(client):
    for index in range(8):
        add_verbatim(client, f"Visited city number {index}", user_id="alice", run_id=f"r{index % 2}")
    assert len(client.search("city", filters={"user_id": "alice"}, top_k=3)["results"]) == 3
    only_run = client.search("city", filters={"AND": [{"user_id": "alice"}, {"run_id": "r1"}]})["results"]
    assert {hit["run_id"] for hit in only_run} == {"r1"}
    assert client.search("city", filters={"user_id": "alice"}, threshold=0.999)["results"] == []


def test_search_and_get_all_answer_only_the_fields_asked_for(client):
    add_verbatim(client, "Likes green tea")
    (hit,) = client.search("tea", filters={"user_id": "alice"}, fields=["memory"])["results"]
    assert set(hit) == {"id", "memory", "score"}  # the id, and the score a hit is ranked by, stay
    (listed,) = client.get_all(filters={"user_id": "alice"}, fields=["memory", "user_id"])["results"]
    assert listed == {"id": hit["id"], "memory": "Likes green tea", "user_id": "alice"}
    assert "hash" in client.get_all(filters={"user_id": "alice"})["results"][0]  # no fields: every field


def test_get_all_paginates_newest_first(client):
    ids = [add_verbatim(client, f"note {index}")["results"][0]["id"] for index in range(5)]
    page1 = client.get_all(filters={"user_id": "alice"}, page=1, page_size=2)
    page3 = client.get_all(filters={"user_id": "alice"}, page=3, page_size=2)
    assert page1["count"] == 5
    assert [m["id"] for m in page1["results"]] == ids[::-1][:2]
    assert [m["id"] for m in page3["results"]] == [ids[0]]
    assert page1["next"] and page1["previous"] is None and page3["next"] is None


def test_a_page_past_the_last_links_back_to_the_last_page(client):
    for index in range(3):
        add_verbatim(client, f"note {index}")
    past = client.get_all(filters={"user_id": "alice"}, page=5, page_size=2)
    assert (past["count"], past["results"], past["next"]) == (3, [], None)
    assert "page=2" in past["previous"] and "page_size=2" in past["previous"]  # the last page, not page 4


def test_get_all_keeps_the_memories_created_from_start_date_to_end_date(client):
    # GetAllMemoryOptions' start_date / end_date: created on or after, on or before (whole UTC days)
    for text, moment in (("March 9", "2024-03-09T12:00:00Z"), ("March 10, late", "2024-03-10T23:30:00Z"),
                         ("March 11", "2024-03-11T00:00:00Z")):
        client.add(text, user_id="alice", infer=False, timestamp=datetime.fromisoformat(moment).timestamp())

    def listed(**dates):
        return [m["memory"] for m in client.get_all(filters={"user_id": "alice"}, **dates)["results"]]

    assert listed(start_date="2024-03-10", end_date="2024-03-10") == ["March 10, late"]
    assert listed(start_date="2024-03-10") == ["March 11", "March 10, late"]
    assert listed(end_date="2024-03-10") == ["March 10, late", "March 9"]
    with pytest.raises(ValidationError):
        client.get_all(filters={"user_id": "alice"}, start_date="last tuesday")


def test_update_changes_text_and_history_keeps_every_version(client):
    memory_id = add_verbatim(client, "Lives in Paris")["results"][0]["id"]
    updated = client.update(memory_id, text="Lives in Berlin", metadata={"moved": True})
    assert updated["memory"] == "Lives in Berlin" and updated["metadata"] == {"moved": True}
    assert client.search("Berlin", filters={"user_id": "alice"})["results"][0]["id"] == memory_id
    client.delete(memory_id)
    assert client.get(memory_id) is None
    history = client.history(memory_id)
    assert [(h["event"], h["old_memory"], h["new_memory"]) for h in history] == [
        ("ADD", None, "Lives in Paris"), ("UPDATE", "Lives in Paris", "Lives in Berlin"),
        ("DELETE", "Lives in Berlin", None)]


def test_errors_map_to_the_clients_exceptions(client):
    missing = "00000000-0000-0000-0000-000000000000"
    assert client.get(missing) is None
    with pytest.raises(MemoryNotFoundError):
        client.update(missing, text="x")
    with pytest.raises(MemoryNotFoundError):
        client.delete(missing)
    with pytest.raises(ValidationError):
        client.search("x" * 2001, filters={"user_id": "alice"})
    with pytest.raises(ValidationError):
        client.search("anything", filters={"colour": "red"})
    with pytest.raises(ValidationError):  # 400: no entity id
        client.add("hello", infer=False)


def test_immutable_memories_refuse_updates(client):
    memory_id = client.add("Blood type is O+", user_id="alice", infer=False, immutable=True)["results"][0]["id"]
    with pytest.raises(ValidationError):  # 409
        client.update(memory_id, text="Blood type is A")
    assert client.get(memory_id)["memory"] == "Blood type is O+"


def test_delete_all_needs_a_filter_and_deletes_only_matches(client):
    add_verbatim(client, "a1", user_id="alice")
    add_verbatim(client, "b1", user_id="bob")
    with pytest.raises(ValidationError):
        client.delete_all()
    client.delete_all(user_id="alice")
    assert client.get_all(filters={"user_id": "alice"})["count"] == 0
    assert client.get_all(filters={"user_id": "bob"})["count"] == 1


def test_entities_listing_deletion_and_reset(client):
    add_verbatim(client, "a1", user_id="alice")
    add_verbatim(client, "a2", user_id="alice", agent_id="bot")
    entities = client.users()
    assert {(e["type"], e["name"], e["total_memories"]) for e in entities["results"]} == {
        ("user", "alice", 2), ("agent", "bot", 1)}
    client.delete_users(agent_id="bot")
    assert client.get_all(filters={"user_id": "alice"})["count"] == 1
    client.reset()
    assert client.get_all(filters={"user_id": "alice"})["count"] == 0


def test_entity_counts_leave_out_expired_memories_as_listings_do_and_reset_still_takes_them(client, space):
    """`total_memories` counted expired memories, which no listing or search shows: alice had 2 there and 1 in
    get_all."""
    add_verbatim(client, "Likes tea", user_id="alice")
    add_verbatim(client, "Is in Rome this week", user_id="alice")
    add_verbatim(client, "Visits in May", user_id="carol")
    yesterday = date.today() - timedelta(days=1)
    Memory.objects.filter(memory__in=["Is in Rome this week", "Visits in May"]).update(expiration_date=yesterday)
    counts = {e["name"]: e["total_memories"] for e in client.users()["results"]}
    assert counts == {"alice": client.get_all(filters={"user_id": "alice"})["count"], "carol": 0} == {
        "alice": 1, "carol": 0}
    client.reset()
    assert Memory.objects.alive().filter(space=space).count() == 0


def test_reset_deletes_every_entity_even_when_a_memory_belongs_to_two(client, space):
    # users() lists alice and bot for one memory; deleting alice takes it, and bot must still delete (200)
    client.add("Prefers email", user_id="alice", agent_id="bot", infer=False)
    client.add("Speaks German", agent_id="bot", run_id="r1", infer=False)
    assert client.reset()["message"].startswith("Client reset successful")
    assert Memory.objects.alive().filter(space=space).count() == 0
    with pytest.raises(MemoryNotFoundError):  # a name the space never held is still unknown
        client.delete_users(user_id="nobody")


def test_an_entity_whose_name_holds_a_slash_is_deleted_like_any_other(client, space):
    # the client sends /v2/entities/user/team%2Falice/, which arrives decoded as team/alice
    client.add("Works on the platform team", user_id="team/alice", infer=False)
    client.delete_users(user_id="team/alice")
    assert Memory.objects.alive().filter(space=space).count() == 0


def test_batch_update_and_delete_are_all_or_nothing(client):
    a = add_verbatim(client, "first")["results"][0]["id"]
    b = add_verbatim(client, "second")["results"][0]["id"]
    client.batch_update([{"memory_id": a, "text": "first, edited"}, {"memory_id": b, "text": "second, edited"}])
    assert client.get(a)["memory"] == "first, edited"
    with pytest.raises(MemoryNotFoundError):
        client.batch_delete([{"memory_id": a}, {"memory_id": "00000000-0000-0000-0000-000000000000"}])
    assert client.get(a) is not None
    client.batch_delete([{"memory_id": a}, {"memory_id": b}])
    assert client.get(a) is None and client.get(b) is None


def test_export_projects_memories_onto_a_schema(client):
    add_verbatim(client, "Allergic to peanuts")
    schema = {"type": "object", "properties": {"memory": {"type": "string"}, "user_id": {"type": "string"}}}
    created = client.create_memory_export(schema=schema, filters={"user_id": "alice"})
    export = client.get_memory_export(memory_export_id=created["id"])
    assert export["memories"] == [{"memory": "Allergic to peanuts", "user_id": "alice"}]


def test_get_memory_export_finds_the_newest_export_of_the_ids_it_is_given(client):
    add_verbatim(client, "Allergic to peanuts")
    add_verbatim(client, "Plays chess", user_id="bob")
    schema = {"type": "object", "properties": {"memory": {"type": "string"}}}
    alice = client.create_memory_export(schema=schema, user_id="alice")["id"]
    bob = client.create_memory_export(schema=schema, filters={"user_id": "bob"})["id"]
    bob_in_a_run = client.create_memory_export(schema=schema, user_id="bob", run_id="r1")["id"]
    assert client.get_memory_export(user_id="alice")["id"] == alice
    assert client.get_memory_export(filters={"user_id": "alice"})["memories"] == [{"memory": "Allergic to peanuts"}]
    assert client.get_memory_export(user_id="bob")["id"] == bob
    assert client.get_memory_export(filters={"AND": [{"user_id": "bob"}, {"run_id": "r1"}]})["id"] == bob_in_a_run
    assert client.get_memory_export()["id"] == bob_in_a_run  # no ids: the newest of the space
    with pytest.raises(MemoryNotFoundError):
        client.get_memory_export(user_id="carol")


def test_feedback_is_recorded(client):
    memory_id = add_verbatim(client, "Speaks French")["results"][0]["id"]
    answer = client.feedback(memory_id, feedback="POSITIVE", feedback_reason="accurate")
    assert answer["feedback"] == "POSITIVE"


def test_a_second_space_sees_none_of_the_first(live_server, api_key, user, client):
    add_verbatim(client, "Secret of space one")
    other = MemoryClient(host=host_of(live_server, MemorySpaceFactory(owner=user)), api_key=api_key)
    assert other.get_all(filters={"user_id": "alice"})["count"] == 0
    assert other.search("secret", filters={"user_id": "alice"})["results"] == []


def test_reset_wipes_one_space_only(live_server, api_key, user, client, space):
    add_verbatim(client, "kept elsewhere")
    other_space = MemorySpaceFactory(owner=user)
    other = MemoryClient(host=host_of(live_server, other_space), api_key=api_key)
    add_verbatim(other, "wiped")
    other.reset()
    assert Memory.objects.alive().filter(space=space).count() == 1
    assert Memory.objects.alive().filter(space=other_space).count() == 0
    assert MemoryHistory.objects.filter(space=other_space, event="DELETE").count() == 1


def test_async_client_does_the_same(live_server, api_key, space):
    async def scenario():
        client = AsyncMemoryClient(host=host_of(live_server, space, "/"), api_key=api_key)
        added = await client.add("Drinks oat milk", user_id="alice", infer=False)
        memory_id = added["results"][0]["id"]
        found = await client.search("milk", filters={"user_id": "alice"})
        fetched = await client.get(memory_id)
        await client.delete(memory_id)
        return found, fetched, await client.get(memory_id)

    found, fetched, after = asyncio.run(scenario())
    assert found["results"][0]["memory"] == "Drinks oat milk"
    assert fetched["memory"] == "Drinks oat milk" and after is None


def test_add_tags_memories_with_the_custom_categories_that_fit_them(client):
    result = client.add([{"role": "user", "content": "Loves sushi and ramen"},
                         {"role": "user", "content": "Works as a backend engineer at Acme"}],
                        user_id="alice", infer=False, categories=["chat"],
                        custom_categories=[{"food": "Anything about food and drinks"},
                                           {"travel": "Trips, places, holidays and flights"}])
    by_text = {r["memory"]: client.get(r["id"])["categories"] for r in result["results"]}
    assert by_text == {"Loves sushi and ramen": ["chat", "food"], "Works as a backend engineer at Acme": ["chat"]}
    found = client.get_all(filters={"AND": [{"user_id": "alice"}, {"categories": {"in": ["food"]}}]})
    assert [m["memory"] for m in found["results"]] == ["Loves sushi and ramen"]


def test_malformed_custom_categories_are_the_clients_validation_error(client):
    with pytest.raises(ValidationError):
        client.add("Loves sushi", user_id="alice", infer=False, custom_categories=[{"food": "x", "drinks": "y"}])
    assert client.get_all(filters={"user_id": "alice"})["results"] == []
