"""The LLM path end to end: the stock mem0 client → our server → an OpenAI-compatible fake on 127.0.0.1
with scripted replies. Extraction, then an add that UPDATEs one memory and DELETEs another, with history."""

import gc
import json
import os
import re
import socket
from datetime import date

import httpcore
import pytest
from mem0 import MemoryClient
from mem0.configs.prompts import AGENT_MEMORY_EXTRACTION_PROMPT, USER_MEMORY_EXTRACTION_PROMPT
from mem0.exceptions import NetworkError
from mem0.utils.factory import LlmFactory

from mem0_compat.models import MEMORY_TEXT_MAX_LENGTH, Memory, MemoryInput
from memoryspaces.validators import base_url_option
from tests.factories import MemoryFactory, MemorySpaceFactory, UserFactory, client_with_key, make_api_key
from tests.fakes import FakeOpenAI


@pytest.fixture
def fake_llm():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def llm_space(user, fake_llm):
    return MemorySpaceFactory(owner=user, llm_model_name="gpt-4o-mini", llm_base_url=fake_llm.base_url)


@pytest.fixture
def client(live_server, api_key, llm_space):
    return MemoryClient(host=f"{live_server.url}/api/v2/memory/{llm_space.id}", api_key=api_key)


def decisions(*items):
    return {"memory": [dict(zip(("id", "text", "event", "old_memory"), item, strict=False)) for item in items]}


def test_facts_are_extracted_then_updated_and_deleted_with_history(client, fake_llm):
    fake_llm.script(
        {"facts": ["Name is Alice", "Lives in Paris", "Uses ArgoCD"]},
        decisions(("0", "Name is Alice", "ADD"), ("1", "Lives in Paris", "ADD"), ("2", "Uses ArgoCD", "ADD")),
    )
    first = client.add([{"role": "user", "content": "Hi, I'm Alice, I live in Paris and deploy with ArgoCD."}],
                       user_id="alice")
    assert sorted((r["event"], r["memory"]) for r in first["results"]) == [
        ("ADD", "Lives in Paris"), ("ADD", "Name is Alice"), ("ADD", "Uses ArgoCD")]
    ids = {r["memory"]: r["id"] for r in first["results"]}

    def second_decision(request):
        # The update prompt lists the existing memories under temporary ids; answer by text.
        listed = re.findall(r"\{'id': '(\d+)', 'text': '([^']*)'\}", request["messages"][0]["content"])
        temp = {text: temp_id for temp_id, text in listed}
        assert len(temp) == 3 and not any("-" in temp_id for temp_id in temp.values())  # never real uuids
        return decisions((temp["Lives in Paris"], "Lives in Berlin", "UPDATE", "Lives in Paris"),
                         (temp["Uses ArgoCD"], "Uses ArgoCD", "DELETE"),
                         (temp["Name is Alice"], "Name is Alice", "NONE"))

    fake_llm.script({"facts": ["Lives in Berlin", "No longer uses ArgoCD"]}, second_decision)
    second = client.add([{"role": "user", "content": "I moved to Berlin and I stopped using ArgoCD."}],
                        user_id="alice")
    events = {(r["event"], r["memory"]) for r in second["results"]}
    assert events == {("UPDATE", "Lives in Berlin"), ("DELETE", "Uses ArgoCD")}
    updated = next(r for r in second["results"] if r["event"] == "UPDATE")
    assert updated["id"] == ids["Lives in Paris"] and updated["previous_memory"] == "Lives in Paris"

    assert [(h["event"], h["old_memory"], h["new_memory"]) for h in client.history(ids["Lives in Paris"])] == [
        ("ADD", None, "Lives in Paris"), ("UPDATE", "Lives in Paris", "Lives in Berlin")]
    assert [h["event"] for h in client.history(ids["Uses ArgoCD"])] == ["ADD", "DELETE"]
    second_input = [{"role": "user", "content": "I moved to Berlin and I stopped using ArgoCD."}]
    assert [h["input"] for h in client.history(ids["Uses ArgoCD"])][1:] == [second_input]
    assert client.history(ids["Lives in Paris"])[1]["input"] == second_input
    assert MemoryInput.objects.count() == 2  # each add's messages once, however many rows it wrote
    assert client.get(ids["Uses ArgoCD"]) is None
    remaining = {m["memory"] for m in client.get_all(filters={"user_id": "alice"})["results"]}
    assert remaining == {"Name is Alice", "Lives in Berlin"}


def test_custom_instructions_of_the_space_reach_the_prompt(client, fake_llm, llm_space):
    llm_space.custom_instructions = "Only extract facts about deployment tooling. Reply in JSON with facts."
    llm_space.save()
    fake_llm.script({"facts": []})
    assert client.add("We deploy with ArgoCD", user_id="alice")["results"] == []
    system = fake_llm.requests[0]["messages"][0]
    assert system["role"] == "system" and "Only extract facts about deployment tooling" in system["content"]


def test_per_request_custom_instructions_win_over_the_spaces(client, fake_llm, llm_space):
    llm_space.custom_instructions = "space-level prompt"
    llm_space.save()
    fake_llm.script({"facts": []})
    client.add("We deploy with ArgoCD", user_id="alice", custom_instructions="request-level prompt, as JSON")
    assert "request-level prompt" in fake_llm.requests[0]["messages"][0]["content"]


def test_includes_and_excludes_narrow_the_default_prompt_or_the_custom_one(client, fake_llm):
    fake_llm.script({"facts": []}, {"facts": []})
    client.add("I like tea and I live in Paris", user_id="alice", includes="food")
    client.add("I like tea and I live in Paris", user_id="alice", excludes="places",
               custom_instructions="Extract hobbies, as JSON.")
    assert [request["messages"][0]["content"] for request in fake_llm.requests] == [
        f"{USER_MEMORY_EXTRACTION_PROMPT}\n\nOnly extract information about: food",
        "Extract hobbies, as JSON.\n\nDo not extract information about: places"]


@pytest.mark.parametrize(("ids", "with_assistant", "prompt"), [
    ({"user_id": "alice"}, False, USER_MEMORY_EXTRACTION_PROMPT),
    ({"user_id": "alice"}, True, USER_MEMORY_EXTRACTION_PROMPT),
    ({"agent_id": "bot"}, False, USER_MEMORY_EXTRACTION_PROMPT),
    ({"agent_id": "bot"}, True, AGENT_MEMORY_EXTRACTION_PROMPT),
    ({"agent_id": "bot", "user_id": "alice"}, True, AGENT_MEMORY_EXTRACTION_PROMPT),
])
def test_the_agent_prompt_needs_an_agent_id_and_an_assistant_message_as_in_mem0(client, fake_llm, ids,
                                                                               with_assistant, prompt):
    messages = [{"role": "user", "content": "Always answer me in French"}]
    if with_assistant:
        messages.append({"role": "assistant", "content": "D'accord, je réponds en français."})
    fake_llm.script({"facts": []})
    client.add(messages, **ids)
    assert fake_llm.requests[0]["messages"][0]["content"] == prompt


def test_the_llm_sees_content_parts_as_lines_and_no_tool_messages(client, fake_llm):
    fake_llm.script({"facts": []})
    client.add([{"role": "user", "content": [{"type": "text", "text": "I live in Paris"},
                                             {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                                             {"type": "text", "text": "I like tea"}]},
                {"role": "tool", "content": "I am the weather tool", "tool_call_id": "1"}], user_id="alice")
    assert fake_llm.requests[0]["messages"][1]["content"] == "Input:\nuser: I live in Paris\nI like tea\n"


def test_a_failing_llm_is_a_502_and_writes_nothing(client, fake_llm, llm_space):
    fake_llm.fail_next(500, times=2)  # the OpenAI client retries once
    with pytest.raises(NetworkError):
        client.add("I live in Paris", user_id="alice")
    assert not Memory.objects.filter(space=llm_space).exists()


def test_a_non_json_llm_reply_is_a_502_and_writes_nothing(live_server, api_key, llm_space, fake_llm):
    import requests

    fake_llm.script("I am not JSON at all")
    response = requests.post(f"{live_server.url}/api/v2/memory/{llm_space.id}/v3/memories/add/",
                             json={"messages": [{"role": "user", "content": "I live in Paris"}], "user_id": "a"},
                             headers={"Authorization": f"Token {api_key}"}, timeout=30)
    assert response.status_code == 502
    assert "not JSON" in response.json()["detail"]
    assert not Memory.objects.filter(space=llm_space).exists()


def listed_memories(request) -> dict[str, str]:
    """text -> temporary id, as the decision prompt lists the existing memories."""
    return {text: temp_id for temp_id, text in
            re.findall(r"\{'id': '(\d+)', 'text': '([^']*)'\}", request["messages"][0]["content"])}


def test_an_update_of_an_immutable_memory_is_stored_as_a_new_memory(client, fake_llm, llm_space):
    kept = MemoryFactory(space=llm_space, user_id="alice", memory="Lives in Paris", immutable=True)
    fake_llm.script({"facts": ["Lives in Berlin"]},
                    lambda request: decisions((listed_memories(request)["Lives in Paris"], "Lives in Berlin",
                                               "UPDATE", "Lives in Paris")))
    result = client.add("I moved to Berlin", user_id="alice")
    assert [(r["event"], r["memory"]) for r in result["results"]] == [("ADD", "Lives in Berlin")]
    kept.refresh_from_db()
    assert kept.memory == "Lives in Paris" and kept.deleted_at is None


def test_the_decision_sees_neither_expired_memories_nor_those_of_another_scope(client, fake_llm, llm_space):
    """A fact said again must be stored when the only memory holding it is expired (nobody sees it) or belongs
    to one of the user's runs: memories are scoped by every id, never mixed."""
    MemoryFactory(space=llm_space, user_id="alice", memory="Lives in Paris", expiration_date=date(2020, 1, 1))
    MemoryFactory(space=llm_space, user_id="alice", run_id="trip-1", memory="Likes trains")
    MemoryFactory(space=llm_space, user_id="alice", memory="Name is Alice")
    shown = []

    def decide(request):
        shown.append(set(listed_memories(request)))
        return decisions(("0", "Lives in Paris", "ADD"), ("1", "Likes trains", "ADD"))

    fake_llm.script({"facts": ["Lives in Paris", "Likes trains"]}, decide)
    result = client.add("I live in Paris and I like trains", user_id="alice")
    assert shown == [{"Name is Alice"}]
    assert sorted(r["memory"] for r in result["results"]) == ["Likes trains", "Lives in Paris"]
    assert {m["memory"] for m in client.get_all(filters={"user_id": "alice"})["results"]} >= {
        "Lives in Paris", "Likes trains", "Name is Alice"}


@pytest.mark.parametrize("merge", [
    lambda listed: decisions((listed["Lives in Paris"], "Lives in Berlin", "UPDATE", "Lives in Paris"),
                             (listed["Lives in Berlin"], "Lives in Berlin", "DELETE")),
    lambda listed: decisions((listed["Lives in Berlin"], "Lives in Berlin", "DELETE"),
                             ("2", "Lives in Berlin", "ADD"), (listed["Lives in Paris"], "Lives in Paris", "DELETE")),
], ids=["update-one-delete-the-other", "delete-both-add-again"])
def test_a_text_the_llm_deletes_and_writes_again_in_one_reply_is_kept_once(client, fake_llm, llm_space, merge):
    """The LLM merges two memories (one updated to the other's text, which it deletes; or both deleted and the
    text added anew): as in mem0, which applies each decision in turn, the scope keeps that text, once."""
    MemoryFactory(space=llm_space, user_id="alice", memory="Lives in Paris")
    MemoryFactory(space=llm_space, user_id="alice", memory="Lives in Berlin")
    fake_llm.script({"facts": ["Lives in Berlin"]}, lambda request: merge(listed_memories(request)))
    client.add("I live in Berlin", user_id="alice")
    assert [m["memory"] for m in client.get_all(filters={"user_id": "alice"})["results"]] == ["Lives in Berlin"]


FOOD_AND_TRAVEL = [{"food": "Anything about food and drinks"}, {"travel": "Trips, places, holidays and moves"}]


def categorized_by_text(answers: dict):
    """A categorization reply naming `answers[text]` for each memory the request lists."""
    def reply(request):
        listing = json.loads(request["messages"][1]["content"])
        return {"memories": [{"id": memory_id, "categories": answers[text]}
                             for memory_id, text in listing["memories"].items()]}
    return reply


def test_the_llm_tags_added_and_updated_memories_with_the_custom_categories_it_picks(client, fake_llm, llm_space):
    fake_llm.script({"facts": ["Lives in Paris"]}, decisions(("0", "Lives in Paris", "ADD")))
    client.add("I live in Paris", user_id="alice", categories=["home"])
    assert len(fake_llm.requests) == 2  # no custom categories, no categorization call

    def second_decision(request):
        return decisions(("0", "Lives in Berlin", "UPDATE", "Lives in Paris"), ("1", "Loves pretzels", "ADD"))

    fake_llm.script({"facts": ["Lives in Berlin", "Loves pretzels"]}, second_decision,
                    categorized_by_text({"Lives in Berlin": ["travel", "weather"], "Loves pretzels": ["food"]}))
    client.add("I moved to Berlin, I love pretzels", user_id="alice", categories=["chat"],
               custom_categories=FOOD_AND_TRAVEL)
    prompt = fake_llm.requests[-1]["messages"]
    assert "categories" in prompt[0]["content"] and "JSON" in prompt[0]["content"]
    assert json.loads(prompt[1]["content"])["categories"] == {"food": "Anything about food and drinks",
                                                               "travel": "Trips, places, holidays and moves"}
    stored = {m.memory: m.categories for m in Memory.objects.filter(space=llm_space)}
    # the update keeps the memory's own categories, then takes the add's; "weather" is not a custom category
    assert stored == {"Lives in Berlin": ["home", "chat", "travel"], "Loves pretzels": ["chat", "food"]}
    found = client.get_all(filters={"AND": [{"user_id": "alice"}, {"categories": {"contains": "food"}}]})
    assert [m["memory"] for m in found["results"]] == ["Loves pretzels"]


def test_verbatim_memories_are_categorized_in_one_call(client, fake_llm, llm_space):
    fake_llm.script(categorized_by_text({"I had ramen in Tokyo": ["food", "travel"], "Hello": []}))
    client.add([{"role": "user", "content": "I had ramen in Tokyo"}, {"role": "user", "content": "Hello"}],
               user_id="alice", infer=False, custom_categories=FOOD_AND_TRAVEL)
    assert len(fake_llm.requests) == 1
    stored = {m.memory: m.categories for m in Memory.objects.filter(space=llm_space)}
    assert stored == {"I had ramen in Tokyo": ["food", "travel"], "Hello": []}


@pytest.mark.parametrize("reply", [
    "food, travel",
    {"memories": {"0": ["food"]}},
    {"memories": [{"id": "0", "categories": "food"}]},
    {"memories": [{"id": "0", "categories": [1]}]},
    {"categories": [["food"]]},
])
def test_a_malformed_categorization_reply_is_a_502_and_writes_nothing(live_server, api_key, llm_space, fake_llm,
                                                                      reply):
    import requests

    fake_llm.script({"facts": ["Loves pretzels"]}, decisions(("0", "Loves pretzels", "ADD")), reply)
    response = requests.post(f"{live_server.url}/api/v2/memory/{llm_space.id}/v3/memories/add/",
                             json={"messages": "I love pretzels", "user_id": "a",
                                   "custom_categories": FOOD_AND_TRAVEL},
                             headers={"Authorization": f"Token {api_key}"}, timeout=30)
    assert response.status_code == 502
    assert response.json()["detail"].startswith("Memory categorization with gpt-4o-mini failed")
    assert not Memory.objects.filter(space=llm_space).exists()


def add_as_alice(api, space, text):
    body = {"messages": [{"role": "user", "content": text}], "user_id": "alice"}
    return api.post(f"/api/v2/memory/{space.id}/v3/memories/add/", body, format="json")


def connections_held_to(fake: FakeOpenAI) -> int:
    """The TCP connections to `fake` this process holds open: sockets among its file descriptors whose far end
    is the fake's port (Linux's /proc)."""
    port = int(fake.base_url.rsplit(":", 1)[1].split("/")[0])
    held = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            held.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:  # closed meanwhile (the directory's own descriptor)
            pass
    with open("/proc/self/net/tcp") as table:
        rows = [line.split() for line in table.readlines()[1:]]
    return sum(int(row[2].rsplit(":", 1)[1], 16) == port and f"socket:[{row[9]}]" in held for row in rows)


@pytest.mark.parametrize("model", ["gpt-4o-mini", "lmstudio/local-model"])
def test_an_add_leaves_no_connection_to_a_tenants_llm_open(api, user, fake_llm, model):
    """Each add makes its own client for a tenant's endpoint: it closes its connections when the add ends.
    Left to garbage collection, they stayed open (and a file descriptor each) until a full collection, which a
    busy worker runs seldom; the collector is off here so that it cannot close them in the test's place."""
    space = MemorySpaceFactory(owner=user, llm_model_name=model, llm_base_url=fake_llm.base_url)
    fake_llm.script({"facts": ["Likes tea"]}, decisions((None, "Likes tea", "ADD")))
    gc.disable()
    try:
        assert add_as_alice(api, space, "I like tea").status_code == 200
        assert len(fake_llm.requests) == 2 and connections_held_to(fake_llm) == 0
    finally:
        gc.enable()


@pytest.mark.parametrize("model", ["gpt-4o-mini", "vllm/local-model"])
def test_adds_to_the_operators_llm_share_one_connection_kept_alive(api, user, fake_llm, settings, model):
    """The operator's endpoint serves every space that names none: one client per process serves them all (the
    OpenAI client may be shared across threads), so an add finds the connection of the one before open rather
    than making a client, a TLS context and a connection of its own."""
    settings.LLM_BASE_URL = fake_llm.base_url
    space = MemorySpaceFactory(owner=user, llm_model_name=model, llm_base_url=None)
    for text in ("I like tea", "I like coffee"):
        fake_llm.script({"facts": []})
        assert add_as_alice(api, space, text).status_code == 200
    assert len(fake_llm.requests) == 2 and connections_held_to(fake_llm) == 1


def test_a_cookie_the_operators_llm_sets_for_one_tenants_add_is_not_sent_with_anothers(api, user, fake_llm,
                                                                                       settings):
    """The shared client kept a cookie jar: what the endpoint set in answer to one tenant's call went with
    every later call, another tenant's too (each add made its own client before, with its own jar)."""
    settings.LLM_BASE_URL = fake_llm.base_url
    fake_llm.response_headers = {"Set-Cookie": "gateway_session=alice-tenant; Path=/"}
    for owner in (user, UserFactory()):
        fake_llm.script({"facts": []})
        space = MemorySpaceFactory(owner=owner, llm_model_name="gpt-4o-mini", llm_base_url=None)
        assert add_as_alice(api if owner == user else client_with_key(make_api_key(owner)), space,
                            "I like tea").status_code == 200
    assert [headers.get("cookie") for headers in fake_llm.request_headers] == [None, None]


def test_the_operators_llm_key_reaches_the_operators_endpoint(api, user, fake_llm, settings):
    settings.LLM_API_KEY, settings.LLM_BASE_URL = "sk-operator", fake_llm.base_url
    fake_llm.script({"facts": []})
    space = MemorySpaceFactory(owner=user, llm_model_name="gpt-4o-mini", llm_base_url=None)
    assert add_as_alice(api, space, "I like tea").status_code == 200
    assert fake_llm.request_headers[0]["authorization"] == "Bearer sk-operator"


@pytest.mark.parametrize(("model", "operators_endpoint"), [
    ("deepseek/deepseek-chat", None),
    # sarvam (like groq, gemini, together, ...) takes no base URL: it calls its own endpoint whatever
    # LLM_BASE_URL says, so that endpoint is not the operator's either
    ("sarvam/sarvam-m", "http://127.0.0.1:1/v1"),
])
def test_the_operators_llm_key_never_goes_to_another_providers_endpoint(api, user, fake_llm, settings, monkeypatch,
                                                                         model, operators_endpoint):
    """The key is the operator's provider's (OpenAI here): a tenant naming another provider sends its calls to
    that provider's endpoint, with that provider's own key from the environment, never this one."""
    settings.LLM_API_KEY, settings.LLM_BASE_URL, settings.LLM_MODEL = "sk-operator", operators_endpoint, None
    provider = model.partition("/")[0].upper()
    monkeypatch.setenv(f"{provider}_API_BASE", fake_llm.base_url)  # where mem0's provider calls
    monkeypatch.setenv(f"{provider}_API_KEY", "sk-provider")
    fake_llm.script({"facts": []})
    space = MemorySpaceFactory(owner=user, llm_model_name=model, llm_base_url=None)
    assert add_as_alice(api, space, "I like tea").status_code == 200
    assert [headers["authorization"] for headers in fake_llm.request_headers] == ["Bearer sk-provider"]


def test_the_operators_llm_key_quoted_in_an_error_of_its_endpoint_is_not_told_to_the_tenant(api, user, fake_llm,
                                                                                            settings):
    """Some endpoints (proxies) quote the key they refused; the add's 502 quotes the endpoint's error."""
    settings.LLM_API_KEY, settings.LLM_BASE_URL = "sk-operator-0123456789", fake_llm.base_url
    fake_llm.fail_next(401, message="Invalid proxy token. Received API Key = sk-operator-0123456789")
    space = MemorySpaceFactory(owner=user, llm_model_name="gpt-4o-mini", llm_base_url=None)
    response = add_as_alice(api, space, "I like tea")
    assert response.status_code == 502 and "Received API Key" in response.json()["detail"]
    assert "sk-operator-0123456789" not in response.content.decode()


def test_the_operators_llm_key_never_reaches_an_endpoint_a_tenant_configured(api, user, fake_llm, settings):
    settings.LLM_API_KEY, settings.LLM_BASE_URL = "sk-operator", "http://127.0.0.1:1/v1"
    fake_llm.script({"facts": []}, {"facts": []})
    space = MemorySpaceFactory(owner=user, llm_model_name="gpt-4o-mini", llm_base_url=fake_llm.base_url)
    assert add_as_alice(api, space, "I like tea").status_code == 200
    configure = {"llm": {"provider": "openai", "config": {"model": "gpt-4o-mini",
                                                          "openai_base_url": fake_llm.base_url + "/"}}}
    assert api.post(f"/api/v2/memory/{space.id}/configure", configure, format="json").status_code == 200
    assert add_as_alice(api, space, "I like coffee").status_code == 200
    assert [headers["authorization"] for headers in fake_llm.request_headers] == ["Bearer no-key"] * 2


def test_an_llm_endpoint_whose_name_resolves_to_an_internal_address_is_never_called(api, user, fake_llm, settings):
    """A name is checked where the call is made, by the addresses it resolves to: `localhost` stands here for
    any name of an internal host (PATCH cannot know what a name resolves to, nor what it will later)."""
    settings.LLM_ALLOWED_HOSTS = []
    space = MemorySpaceFactory(owner=user, llm_model_name="gpt-4o-mini",
                               llm_base_url=fake_llm.base_url.replace("127.0.0.1", "localhost"))
    fake_llm.script({"facts": ["Likes tea"]})
    response = add_as_alice(api, space, "I like tea")
    assert response.status_code == 502 and "LLM_ALLOWED_HOSTS" in response.json()["detail"]
    assert fake_llm.requests == [] and not Memory.objects.filter(space=space).exists()


def test_a_redirect_of_a_tenants_llm_endpoint_is_not_followed(api, user, fake_llm):
    """Else a tenant's own (allowed) server sends the call on to any internal address."""
    with FakeOpenAI() as internal:
        internal.script({"facts": ["Likes tea"]})
        space = MemorySpaceFactory(owner=user, llm_model_name="gpt-4o-mini", llm_base_url=fake_llm.base_url)
        fake_llm.redirect_next(internal.base_url + "/chat/completions")
        assert add_as_alice(api, space, "I like tea").status_code == 502
        assert internal.requests == []


# The plain name (OpenAI's client), then every provider of mem0's that takes a base URL: those whose calls are not
# checked when connecting (they connect with a library of their own: ollama's, anthropic's) must refuse the name.
BASE_URL_MODELS = ["gpt-4o-mini", *(f"{provider}/local-model" for provider in LlmFactory.provider_to_class
                                    if provider != "openai" and base_url_option(provider))]


@pytest.mark.parametrize("model", BASE_URL_MODELS)
def test_a_name_that_resolves_to_an_internal_address_only_when_connecting_is_never_called(api, user, fake_llm,
                                                                                          settings, monkeypatch,
                                                                                          model):
    """DNS rebinding: a hostile name server answers a public address to the check, then 127.0.0.1 to the
    connection. The addresses checked must be those connected to."""
    settings.LLM_ALLOWED_HOSTS = []
    real_getaddrinfo, lookups = socket.getaddrinfo, []

    def rebinding(host, port, *args, **kwargs):
        if host != "rebind.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        address = "93.184.215.14" if len(lookups) == 1 else "127.0.0.1"  # public first, loopback after
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))]

    def connect_offline(backend, host, port, *args, **kwargs):
        connected.append(host)
        if host == "93.184.215.14":  # the public address: as if it refused, the test not going out
            raise httpcore.ConnectError("refused")
        return real_connect(backend, host, port, *args, **kwargs)

    real_connect, connected = httpcore.SyncBackend.connect_tcp, []
    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", connect_offline)
    space = MemorySpaceFactory(owner=user, llm_model_name=model,
                               llm_base_url=fake_llm.base_url.replace("127.0.0.1", "rebind.example"))
    fake_llm.script({"facts": ["Likes tea"]})
    response = add_as_alice(api, space, "I like tea")
    # the client's retry connects again: it resolves again, then to 127.0.0.1, which the check refuses
    assert response.status_code == 502 and "LLM_ALLOWED_HOSTS" in response.json()["detail"]
    assert set(connected) <= {"93.184.215.14"} and fake_llm.request_headers == []
    assert not Memory.objects.filter(space=space).exists()


def test_a_tenants_endpoint_is_resolved_once_a_connection(api, user, fake_llm, settings, monkeypatch):
    """Where the client connects (llm_http), its addresses checked: a resolution before the call, to check it
    too, told nothing more (and a rebinding name server could answer it anything)."""
    settings.LLM_ALLOWED_HOSTS = ["127.0.0.0/8"]
    real_getaddrinfo, lookups = socket.getaddrinfo, []

    def loopback(host, port, *args, **kwargs):
        if host != "llm.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))]

    monkeypatch.setattr(socket, "getaddrinfo", loopback)
    space = MemorySpaceFactory(owner=user, llm_model_name="gpt-4o-mini",
                               llm_base_url=fake_llm.base_url.replace("127.0.0.1", "llm.example"))
    fake_llm.script({"facts": ["Likes tea"]}, decisions((None, "Likes tea", "ADD")))
    assert add_as_alice(api, space, "I like tea").status_code == 200
    assert len(fake_llm.requests) == 2 and lookups == ["llm.example"]  # two calls, one connection


def test_an_address_that_times_out_gives_way_to_the_names_next_one(api, user, fake_llm, settings, monkeypatch):
    """As socket.create_connection (httpx's own way) tries a name's addresses in turn: one that never answers
    (an IPv6 address without a route, a dead host) is followed by the next, as one that refuses is."""
    settings.LLM_ALLOWED_HOSTS = ["127.0.0.1", "203.0.113.7"]
    real_getaddrinfo, real_connect = socket.getaddrinfo, httpcore.SyncBackend.connect_tcp

    def two_addresses(host, port, *args, **kwargs):
        if host != "dual.example":
            return real_getaddrinfo(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))
                for address in ("203.0.113.7", "127.0.0.1")]

    def silent_first(backend, host, port, *args, **kwargs):
        if host == "203.0.113.7":
            raise httpcore.ConnectTimeout("timed out")  # what a connection nobody answers ends with
        return real_connect(backend, host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
    monkeypatch.setattr(httpcore.SyncBackend, "connect_tcp", silent_first)
    space = MemorySpaceFactory(owner=user, llm_model_name="gpt-4o-mini",
                               llm_base_url=fake_llm.base_url.replace("127.0.0.1", "dual.example"))
    fake_llm.script({"facts": []})
    assert add_as_alice(api, space, "I like tea").status_code == 200
    assert len(fake_llm.requests) == 1


@pytest.mark.parametrize("model", ["vllm/local-model", "lmstudio/local-model", "ollama/llama3"])
def test_a_provider_whose_default_endpoint_is_local_is_not_called_there(api, user, settings, model):
    """mem0's vllm, lmstudio and ollama providers default to ports of localhost: named without llmBaseUrl
    they would reach the service's own loopback (its database, its Redis)."""
    settings.LLM_ALLOWED_HOSTS, settings.LLM_BASE_URL, settings.LLM_MODEL = [], None, None
    space = MemorySpaceFactory(owner=user, llm_model_name=model, llm_base_url=None)
    response = add_as_alice(api, space, "I like tea")
    assert response.status_code == 502, response.content[:300]
    assert "default endpoint" in response.json()["detail"] and "LLM_ALLOWED_HOSTS" in response.json()["detail"]


def test_a_provider_whose_default_endpoint_is_allowed_is_called_there(api, user, fake_llm, settings, monkeypatch):
    monkeypatch.setenv("VLLM_BASE_URL", fake_llm.base_url)  # mem0's vllm provider's default, the operator's
    settings.LLM_ALLOWED_HOSTS, settings.LLM_BASE_URL, settings.LLM_MODEL = [], None, None
    fake_llm.script({"facts": []})
    space = MemorySpaceFactory(owner=user, llm_model_name="vllm/local-model", llm_base_url=None)
    assert add_as_alice(api, space, "I like tea").status_code == 502
    assert fake_llm.request_headers == []
    settings.LLM_ALLOWED_HOSTS = ["127.0.0.1"]
    assert add_as_alice(api, space, "I like tea").status_code == 200
    assert fake_llm.requests[0]["model"] == "local-model"


@pytest.mark.parametrize("provider", ["vllm", "lmstudio", "deepseek"])
def test_configure_takes_the_base_url_a_mem0_provider_names_its_own(api, user, fake_llm, provider):
    """mem0's server is configured with each provider's own option (`vllm_base_url`, `lmstudio_base_url`, ...):
    the space's extraction must then go to that endpoint, through mem0's provider."""
    space = MemorySpaceFactory(owner=user)
    configure = {"llm": {"provider": provider, "config": {"model": "local-model",
                                                          f"{provider}_base_url": fake_llm.base_url}}}
    assert api.post(f"/api/v2/memory/{space.id}/configure", configure, format="json").status_code == 200
    space.refresh_from_db()
    assert (space.llm_model_name, space.llm_base_url) == (f"{provider}/local-model", fake_llm.base_url)
    fake_llm.script({"facts": []})
    assert add_as_alice(api, space, "I like tea").status_code == 200
    assert fake_llm.requests[0]["model"] == "local-model"
    assert fake_llm.request_headers[0]["authorization"] == "Bearer no-key"


def test_nul_and_lone_surrogates_in_the_llms_texts_are_dropped(api, llm_space, fake_llm):
    stored = api.post(f"/api/v2/memory/{llm_space.id}/v3/memories/add/",
                      {"messages": "Lives in Paris", "user_id": "alice", "infer": False}, format="json")
    fake_llm.script('{"facts": ["Likes tea\\u0000", "Lives in Berlin \\ud83d"]}',
                    '{"memory": [{"id": "1", "text": "Likes\\u0000 tea", "event": "ADD"},'
                    ' {"id": "0", "text": "Lives in Berlin \\ud83d", "event": "UPDATE"}]}')
    response = add_as_alice(api, llm_space, "I like tea and I moved to Berlin")
    assert response.status_code == 200, response.content[:300]
    assert "Lives in Berlin" in fake_llm.requests[1]["messages"][0]["content"]
    assert {(r["event"], r["memory"]) for r in response.json()["results"]} == {
        ("ADD", "Likes tea"), ("UPDATE", "Lives in Berlin")}
    assert Memory.objects.get(pk=stored.json()["results"][0]["id"]).memory == "Lives in Berlin"


def test_an_update_to_a_text_the_scope_already_holds_deletes_the_outdated_memory(client, fake_llm, llm_space):
    """An ADD and an UPDATE to the same new text (or an UPDATE to another memory's text) would leave two live
    copies in one scope: the updated memory's old text is outdated, so it is deleted instead."""
    paris = MemoryFactory(space=llm_space, user_id="alice", memory="Lives in Paris")
    fake_llm.script({"facts": ["Lives in Berlin"]},
                    lambda request: decisions(("9", "Lives in Berlin", "ADD"),
                                              (listed_memories(request)["Lives in Paris"], "Lives in Berlin",
                                               "UPDATE", "Lives in Paris")))
    result = client.add("I moved to Berlin", user_id="alice")
    assert sorted((r["event"], r["memory"]) for r in result["results"]) == [
        ("ADD", "Lives in Berlin"), ("DELETE", "Lives in Paris")]
    assert [m["memory"] for m in client.get_all(filters={"user_id": "alice"})["results"]] == ["Lives in Berlin"]
    assert [h["event"] for h in client.history(str(paris.pk))] == ["DELETE"]


def test_texts_longer_than_a_message_may_be_are_dropped_from_the_llms_reply(api, llm_space, fake_llm, caplog):
    """A runaway reply (a fact of megabytes) is not a memory: it would not even fit PostgreSQL's full-text
    index. Such facts and decisions are dropped, as mem0 drops a decision it cannot apply; the rest is kept."""
    runaway = " ".join(f"word{index}" for index in range(200_000))  # 1.3 MB of distinct words
    assert len(runaway) > MEMORY_TEXT_MAX_LENGTH
    fake_llm.script({"facts": ["Likes tea", runaway]},
                    decisions(("0", "Likes tea", "ADD"), ("1", runaway, "ADD")))
    response = add_as_alice(api, llm_space, "I like tea")
    assert response.status_code == 200, response.content[:300]
    assert [(r["event"], r["memory"]) for r in response.json()["results"]] == [("ADD", "Likes tea")]
    assert runaway not in fake_llm.requests[1]["messages"][0]["content"]  # the decision never saw the fact
    assert list(Memory.objects.filter(space=llm_space).values_list("memory", flat=True)) == ["Likes tea"]
    assert "longer than" in caplog.text
