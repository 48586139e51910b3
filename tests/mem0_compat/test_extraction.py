"""The extraction layer: mem0's prompts against an OpenAI-compatible fake, and the offline heuristic."""

import importlib.util
import json
import logging
import time
import uuid

import numpy as np
import openai
import pytest
from mem0.configs.prompts import AGENT_MEMORY_EXTRACTION_PROMPT, USER_MEMORY_EXTRACTION_PROMPT

from mem0_compat.embeddings import get_embedder
from mem0_compat.extraction import (
    NO_KEY,
    Decision,
    ExtractionFailed,
    LlmExtractor,
    OfflineExtractor,
    api_key_for,
    extractor_for,
)
from tests.fakes import FakeOpenAI

CONVERSATION = [
    {"role": "user", "content": "I deploy on Fridays using ArgoCD."},
    {"role": "assistant", "content": "Noted, Fridays it is."},
]


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def llm(fake_openai, settings):
    settings.LLM_API_KEY = "test-key"
    settings.LLM_BASE_URL = fake_openai.base_url
    settings.LLM_TIMEOUT_SECONDS = 5
    return LlmExtractor(model="gpt-4o-mini", base_url=fake_openai.base_url)


def memory(text):
    return {"id": str(uuid.uuid4()), "text": text}


# --- LlmExtractor: facts --------------------------------------------------------------------------------


def test_llm_facts_use_mem0_user_prompt_and_conversation_layout(llm, fake_openai):
    fake_openai.script({"facts": ["Deploys on Fridays", "Uses ArgoCD"]})

    facts = llm.extract_facts(CONVERSATION, instructions=None, agent_scope=False)

    assert facts == ["Deploys on Fridays", "Uses ArgoCD"]
    request = fake_openai.requests[0]
    assert request["model"] == "gpt-4o-mini"
    assert request["response_format"] == {"type": "json_object"}
    assert request["temperature"] == 0
    assert request["messages"] == [
        {"role": "system", "content": USER_MEMORY_EXTRACTION_PROMPT},
        {
            "role": "user",
            "content": "Input:\nuser: I deploy on Fridays using ArgoCD.\nassistant: Noted, Fridays it is.\n",
        },
    ]
    assert fake_openai.request_headers[0]["authorization"] == "Bearer test-key"


@pytest.mark.parametrize("reply", [
    '```json\n{"facts": ["Loves sushi"]}\n```',
    '{"facts": ["Loves sushi"]} (I extracted one fact: {sushi})',
    'Here you are: {"facts": ["Loves sushi"]}\n\nNote: {"facts"} holds facts about {the user}.',
])
def test_llm_facts_from_a_reply_with_text_around_the_json(llm, fake_openai, reply):
    fake_openai.script(reply)

    assert llm.extract_facts(CONVERSATION, instructions=None, agent_scope=False) == ["Loves sushi"]


def test_llm_custom_instructions_replace_the_default_prompt(llm, fake_openai):
    instructions = "Only extract deployment habits. Answer as JSON with a facts list."
    fake_openai.script({"facts": ["Deploys on Fridays"]})

    llm.extract_facts(CONVERSATION, instructions=instructions, agent_scope=False)

    assert fake_openai.requests[0]["messages"][0] == {"role": "system", "content": instructions}


def test_llm_custom_instructions_without_json_get_a_json_hint(llm, fake_openai):
    fake_openai.script({"facts": []})

    llm.extract_facts(CONVERSATION, instructions="Only extract deployment habits.", agent_scope=False)

    system = fake_openai.requests[0]["messages"][0]["content"]
    assert system.startswith("Only extract deployment habits.")
    assert "JSON" in system


def test_llm_agent_scope_uses_mem0_agent_prompt(llm, fake_openai):
    fake_openai.script({"facts": ["Notes deployment days"]})

    llm.extract_facts(CONVERSATION, instructions=None, agent_scope=True)

    assert fake_openai.requests[0]["messages"][0]["content"] == AGENT_MEMORY_EXTRACTION_PROMPT


def test_openai_prefix_takes_the_openai_path(fake_openai, settings):
    fake_openai.script({"facts": []})

    LlmExtractor(model="openai/gpt-4o-mini", base_url=fake_openai.base_url).extract_facts(
        CONVERSATION, instructions=None, agent_scope=False
    )

    assert fake_openai.requests[0]["model"] == "gpt-4o-mini"


def test_unknown_prefix_is_part_of_the_model_name(fake_openai, settings):
    fake_openai.script({"facts": []})

    LlmExtractor(model="meta-llama/Llama-3-8B", base_url=fake_openai.base_url).extract_facts(
        CONVERSATION, instructions=None, agent_scope=False
    )

    assert fake_openai.requests[0]["model"] == "meta-llama/Llama-3-8B"


@pytest.mark.parametrize(("model", "temperature"), [
    ("o3-mini", None), ("openai/o1", None), ("gpt-5", None), ("o1-2024-12-17", None), ("gpt-4o-mini", 0),
])
def test_reasoning_models_get_no_temperature_as_in_mem0(fake_openai, model, temperature):
    """OpenAI refuses any temperature but the default for its reasoning models (o1, o3, gpt-5: HTTP 400, so
    every add would be a 502): mem0's engine leaves it out for the models it takes for such, and so do we."""
    fake_openai.script({"facts": []})

    LlmExtractor(model=model, base_url=fake_openai.base_url).extract_facts(
        CONVERSATION, instructions=None, agent_scope=False
    )

    assert fake_openai.requests[0].get("temperature") == temperature


def test_mem0_provider_goes_through_mem0_llm_factory(fake_openai, settings):
    settings.LLM_API_KEY = "test-key"
    fake_openai.script({"facts": ["Loves sushi"]})
    extractor = LlmExtractor(model="lmstudio/local-model", base_url=fake_openai.base_url)

    facts = extractor.extract_facts(CONVERSATION, instructions=None, agent_scope=False)

    assert facts == ["Loves sushi"]
    assert fake_openai.requests[0]["model"] == "local-model"
    assert fake_openai.requests[0]["response_format"] == {"type": "json_object"}


@pytest.mark.skipif(importlib.util.find_spec("anthropic") is not None, reason="anthropic is installed")
def test_mem0_provider_without_its_package_fails_cleanly(settings):
    extractor = LlmExtractor(model="anthropic/claude-3-5-haiku", base_url=None)

    with pytest.raises(ExtractionFailed, match="could not be set up"):
        extractor.extract_facts(CONVERSATION, instructions=None, agent_scope=False)


# --- LlmExtractor: decisions ----------------------------------------------------------------------------


def test_llm_decide_maps_temporary_ids_to_real_ids(llm, fake_openai, caplog):
    alice, argo, sushi = memory("Name is Alice"), memory("Uses ArgoCD"), memory("Loves sushi")
    fake_openai.script(
        {
            "memory": [
                {"id": "0", "text": "Name is Bob", "event": "UPDATE", "old_memory": "Name is Alice"},
                {"id": "1", "text": "Uses ArgoCD", "event": "DELETE"},
                {"id": "2", "text": "Loves sushi", "event": "NONE"},
                {"id": "3", "text": "Deploys on Fridays", "event": "ADD"},
                {"id": "9", "text": "Invented", "event": "UPDATE", "old_memory": "?"},
            ]
        }
    )

    with caplog.at_level(logging.WARNING, logger="mem0_compat.extraction"):
        decisions = llm.decide(["Name is Bob", "Deploys on Fridays"], [alice, argo, sushi])

    assert decisions == [
        Decision("UPDATE", "Name is Bob", memory_id=alice["id"], old_text="Name is Alice"),
        Decision("DELETE", "Uses ArgoCD", memory_id=argo["id"]),
        Decision("NONE", "Loves sushi", memory_id=sushi["id"]),
        Decision("ADD", "Deploys on Fridays"),
    ]
    assert "unknown memory id '9'" in caplog.text
    prompt = fake_openai.requests[0]["messages"][0]["content"]
    assert fake_openai.requests[0]["messages"][0]["role"] == "user"
    assert "'id': '0', 'text': 'Name is Alice'" in prompt
    assert "Deploys on Fridays" in prompt
    assert alice["id"] not in prompt


def test_llm_decide_a_none_does_not_hide_a_change_of_the_same_memory(llm, fake_openai):
    """A model may list every memory as NONE, then again the one that changes: the change counts, as in mem0,
    which applies each decision in turn (NONE doing nothing)."""
    paris = memory("Lives in Paris")
    fake_openai.script({"memory": [
        {"id": "0", "text": "Lives in Paris", "event": "NONE"},
        {"id": "0", "text": "Lives in Berlin", "event": "UPDATE", "old_memory": "Lives in Paris"},
    ]})

    decisions = llm.decide(["Lives in Berlin"], [paris])

    assert [d for d in decisions if d.event != "NONE"] == [
        Decision("UPDATE", "Lives in Berlin", memory_id=paris["id"], old_text="Lives in Paris")]


def test_llm_decide_with_empty_memory_and_no_facts(llm, fake_openai):
    assert llm.decide([], [memory("Name is Alice")]) == []
    assert fake_openai.requests == []

    fake_openai.script({"memory": [{"id": "0", "text": "Name is Alice", "event": "ADD"}]})
    assert llm.decide(["Name is Alice"], []) == [Decision("ADD", "Name is Alice")]
    assert "Current memory is empty" in fake_openai.requests[0]["messages"][0]["content"]


# --- LlmExtractor: failures -----------------------------------------------------------------------------


def test_llm_http_error_raises(llm, fake_openai):
    fake_openai.fail_next(500, times=2)  # the client retries once

    with pytest.raises(ExtractionFailed, match="HTTP 500"):
        llm.extract_facts(CONVERSATION, instructions=None, agent_scope=False)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("Sure! Here are the facts: Loves sushi", "not JSON"),
        ({"fact": ["Loves sushi"]}, "'facts' list"),
        ({"facts": "Loves sushi"}, "'facts' list"),
        ([["Loves sushi"]], "not an object"),
    ],
)
def test_llm_bad_fact_replies_raise(llm, fake_openai, reply, message):
    fake_openai.script(reply)

    with pytest.raises(ExtractionFailed, match=message):
        llm.extract_facts(CONVERSATION, instructions=None, agent_scope=False)


def test_llm_facts_lose_nul_and_lone_surrogates_and_facts_left_empty(llm, fake_openai):
    fake_openai.script('{"facts": ["\\u0000", "Likes\\u0000 tea", "Is \\ud83d\\ude00 \\ud83d", "\\udc00 "]}')

    assert llm.extract_facts(CONVERSATION, instructions=None, agent_scope=False) == ["Likes tea", "Is \U0001f600"]


@pytest.mark.parametrize(
    "reply", [{"memory": "ADD everything"}, {"memories": []}, {"memory": ["Loves sushi"]}]
)
def test_llm_bad_decision_replies_raise(llm, fake_openai, reply):
    fake_openai.script(reply)

    with pytest.raises(ExtractionFailed, match="'memory' list"):
        llm.decide(["Loves sushi"], [memory("Likes sushi")])


def test_llm_timeout_raises(llm, fake_openai, settings):
    settings.LLM_TIMEOUT_SECONDS = 0.3
    fake_openai.hang_next(times=2)

    with pytest.raises(ExtractionFailed, match="timed out"):
        LlmExtractor(model="gpt-4o-mini", base_url=fake_openai.base_url).extract_facts(
            CONVERSATION, instructions=None, agent_scope=False
        )


@pytest.mark.parametrize("model", ["lmstudio/local-model", "vllm/local-model", "deepseek/deepseek-chat"])
def test_a_mem0_provider_times_out_after_llm_timeout_seconds_too(fake_openai, settings, model):
    """mem0's OpenAI-based providers build their own client (600 s timeout, two retries): a hung provider must
    still fail after LLM_TIMEOUT_SECONDS, retried once, like the OpenAI path."""
    settings.LLM_TIMEOUT_SECONDS = 0.3
    fake_openai.hang_next(times=3, seconds=60)
    extractor = LlmExtractor(model=model, base_url=fake_openai.base_url)

    started = time.monotonic()
    with pytest.raises(ExtractionFailed, match="timed out"):
        extractor.extract_facts(CONVERSATION, instructions=None, agent_scope=False)
    assert time.monotonic() - started < 30  # not a speed goal: the timeout, not the fake's 60 s, ended it
    assert len(fake_openai.requests) == 2


def test_llm_unreachable_raises(settings):
    with FakeOpenAI() as stopped:
        base_url = stopped.base_url

    with pytest.raises(ExtractionFailed, match="unreachable") as failure:
        LlmExtractor(model="gpt-4o-mini", base_url=base_url).extract_facts(
            CONVERSATION, instructions=None, agent_scope=False
        )
    assert isinstance(failure.value.__cause__, openai.APIConnectionError)


# --- extractor_for --------------------------------------------------------------------------------------


def test_no_model_anywhere_means_offline(settings):
    settings.LLM_MODEL = None
    settings.LLM_BASE_URL = None

    assert isinstance(extractor_for(model=None, base_url=None), OfflineExtractor)
    assert isinstance(extractor_for(model="", base_url="http://127.0.0.1:1/v1"), OfflineExtractor)


def test_settings_model_is_the_fallback(settings):
    settings.LLM_MODEL = "gpt-4o-mini"
    settings.LLM_BASE_URL = "http://127.0.0.1:1/v1"

    extractor = extractor_for(model=None, base_url=None)

    assert isinstance(extractor, LlmExtractor)
    assert (extractor.name, extractor.base_url) == ("gpt-4o-mini", "http://127.0.0.1:1/v1")


def test_space_model_wins_over_settings(settings):
    settings.LLM_MODEL = "gpt-4o-mini"
    settings.LLM_BASE_URL = "http://127.0.0.1:1/v1"

    extractor = extractor_for(model="llama3", base_url="http://127.0.0.1:2/v1")
    assert (extractor.name, extractor.base_url) == ("llama3", "http://127.0.0.1:2/v1")

    extractor = extractor_for(model="llama3", base_url=None)
    assert (extractor.name, extractor.base_url) == ("llama3", "http://127.0.0.1:1/v1")


def test_the_operators_key_goes_to_the_operators_endpoint_however_spelt(fake_openai, settings):
    settings.LLM_API_KEY = "sk-operator"
    settings.LLM_BASE_URL = fake_openai.base_url.replace("http://", "HTTP://") + "/"
    fake_openai.script({"facts": []}, {"facts": []})

    extractor_for(model="gpt-4o-mini", base_url=None).extract_facts(CONVERSATION, instructions=None,
                                                                    agent_scope=False)
    extractor_for(model="gpt-4o-mini", base_url=fake_openai.base_url).extract_facts(
        CONVERSATION, instructions=None, agent_scope=False)

    assert [headers["authorization"] for headers in fake_openai.request_headers] == ["Bearer sk-operator"] * 2


@pytest.mark.parametrize("model", ["gpt-4o-mini", "lmstudio/local-model"])
@pytest.mark.parametrize("operator_url", [None, "http://127.0.0.1:1/v1"])
def test_a_base_url_of_the_space_gets_no_operator_key(fake_openai, settings, model, operator_url):
    settings.LLM_API_KEY = "sk-operator"
    settings.LLM_BASE_URL = operator_url
    fake_openai.script({"facts": []})

    extractor_for(model=model, base_url=fake_openai.base_url).extract_facts(
        CONVERSATION, instructions=None, agent_scope=False)

    assert fake_openai.request_headers[0]["authorization"] == f"Bearer {NO_KEY}"


def test_the_providers_default_endpoint_gets_the_operators_key(settings):
    settings.LLM_API_KEY = "sk-operator"
    settings.LLM_BASE_URL = None

    assert api_key_for(None) == "sk-operator"
    assert api_key_for("https://api.openai.com/v1") == NO_KEY  # named by a space: not the operator's choice


# --- OfflineExtractor -----------------------------------------------------------------------------------


def offline_facts(text, *, instructions=None, agent_scope=False, role="user"):
    return OfflineExtractor().extract_facts(
        [{"role": role, "content": text}], instructions=instructions, agent_scope=agent_scope
    )


def test_offline_says_it_is_a_heuristic(monkeypatch, caplog):
    monkeypatch.setattr(OfflineExtractor, "_announced", False)

    with caplog.at_level(logging.WARNING, logger="mem0_compat.extraction"):
        offline_facts("I love sushi")
        offline_facts("I love pizza")

    assert OfflineExtractor.name == "offline-heuristic"
    assert "heuristic" in OfflineExtractor.__doc__
    assert caplog.text.count("offline heuristic") == 1


def test_offline_statement_becomes_a_third_person_fact():
    assert offline_facts("I deploy on Fridays using ArgoCD.") == ["Deploys on Fridays using ArgoCD"]


@pytest.mark.parametrize(
    ("text", "facts"),
    [
        ("Hi, my name is Alice.", ["Name is Alice"]),
        ("I love sushi! Can you recommend a place?", ["Loves sushi"]),
        ("I am a software engineer", ["Is a software engineer"]),
        ("I'm looking for a restaurant in San Francisco", ["Looking for a restaurant in San Francisco"]),
        ("I have two cats", ["Has two cats"]),
        ("I don't eat meat", ["Does not eat meat"]),
        ("I usually go to the gym at 7am", ["Usually goes to the gym at 7am"]),
        ("Yesterday, I met John", ["Yesterday, I met John"]),
        ("I wanna learn Spanish", ["Wants to learn Spanish"]),  # was "Wannas learn Spanish"
        ("I really gotta leave early today", ["Really has to leave early today"]),  # was "Really gottas leave"
    ],
)
def test_offline_rewrites(text, facts):
    assert offline_facts(text) == facts


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        # adverbs the fixed list did not name were taken for the verb: "Nows live", "Finallies quit"
        ("I now live in Kyoto", "Now lives in Kyoto"),
        ("I even like jazz", "Even likes jazz"),
        ("I once lived in Oslo", "Once lived in Oslo"),
        ("I finally quit smoking", "Finally quit smoking"),
        ("I honestly prefer cats", "Honestly prefers cats"),
        ("I occasionally smoke cigars", "Occasionally smokes cigars"),
        ("I kind of like jazz", "Kind of likes jazz"),
        ("I myself prefer tea", "Myself prefers tea"),
        # a negation after an adverb is rewritten as one without it ("Usually dons't eat")
        ("I usually don't eat breakfast", "Usually does not eat breakfast"),
        ("I really am tired of meetings", "Really is tired of meetings"),
        ("I almost always forget birthdays", "Almost always forgets birthdays"),
        ("I rather like jazz", "Rather likes jazz"),
        ("I seldom drink", "Seldom drinks"),
        ("I maybe want kids", "Maybe wants kids"),
        ("I first met my wife in 2010", "First met my wife in 2010"),
        ("I somehow lost my keys", "Somehow lost my keys"),
        ("I too love pizza", "Too loves pizza"),
        # adverbs parted by a comma ("Reallies, really love pizza"); a word before a comma is no verb
        ("I really, really love pizza", "Really, really loves pizza"),
        ("I still, after all these years, love her", "I still, after all these years, love her"),
        ("I sometimes, but rarely, smoke", "I sometimes, but rarely, smoke"),
        # verbs that end in -ly stay verbs
        ("I fly to Paris often", "Flies to Paris often"),
        ("I apply for jobs online", "Applies for jobs online"),
        ("I rely on Vim", "Relies on Vim"),
        ("I supply parts to Acme", "Supplies parts to Acme"),
    ],
)
def test_offline_rewrites_a_verb_after_any_adverb(text, fact):
    assert offline_facts(text) == [fact]


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        # a verb in -eed was taken for a past tense and left unconjugated ("Need a new laptop")
        ("I need a new laptop", "Needs a new laptop"),
        ("I feed the cat every morning", "Feeds the cat every morning"),
        ("I breed dogs", "Breeds dogs"),
        ("I bleed easily", "Bleeds easily"),
        ("I usually exceed my targets", "Usually exceeds my targets"),
        ("I proceed carefully", "Proceeds carefully"),
        ("I succeed at chess", "Succeeds at chess"),
        ("I speed on highways", "Speeds on highways"),
        # past tenses stay as they are
        ("I moved to Berlin", "Moved to Berlin"),
        ("I agreed to the terms", "Agreed to the terms"),
        ("I freed the bird", "Freed the bird"),
        ("I fed the cat", "Fed the cat"),
    ],
)
def test_offline_conjugates_a_present_in_eed_and_leaves_a_past_tense(text, fact):
    assert offline_facts(text) == [fact]


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        # a negated auxiliary other than don't/didn't/can't was kept as written ("I won't eat meat")
        ("I won't eat meat", "Will not eat meat"),
        ("I haven't been to Japan", "Has not been to Japan"),
        ("I hadn't heard of it", "Had not heard of it"),
        ("I wasn't at the meeting", "Was not at the meeting"),
        ("I wouldn't recommend it", "Would not recommend it"),
        ("I couldn't sleep last night", "Could not sleep last night"),
        ("I shouldn't eat sugar", "Should not eat sugar"),
        ("I mustn't forget my pills", "Must not forget my pills"),
        ("I wont work weekends", "Will not work weekends"),
        ("I really wasn't happy there", "Really was not happy there"),
        ("I can’t swim", "Cannot swim"),
        ("I didn't go", "Did not go"),
        ("I do not eat pork", "Does not eat pork"),
    ],
)
def test_offline_rewrites_a_negated_auxiliary_after_i(text, fact):
    assert offline_facts(text) == [fact]


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        # an irregular past tense the list did not name was conjugated as a present ("Dids my homework")
        ("I did my homework", "Did my homework"),
        ("I forgot my password", "Forgot my password"),
        ("I caught a cold", "Caught a cold"),
        ("I brought my laptop", "Brought my laptop"),
        ("I fell off my bike", "Fell off my bike"),
        ("I swam in the lake", "Swam in the lake"),
        ("I threw a party", "Threw a party"),
        ("I wore a suit to the interview", "Wore a suit to the interview"),
        ("I recently shook hands with the CEO", "Recently shook hands with the CEO"),
        ("I ought to call my mom", "Ought to call my mom"),
    ],
)
def test_offline_leaves_an_irregular_past_tense_as_it_is(text, fact):
    assert offline_facts(text) == [fact]


@pytest.mark.parametrize(
    ("text", "fact"),
    [
        # the hedge was taken for the verb and the clause kept in the first person ("Thinks I prefer tea")
        ("I think I prefer tea", "Prefers tea"),
        ("I guess I like jazz", "Likes jazz"),
        ("I feel like I need a break", "Needs a break"),
        ("I think that I'm allergic to cats", "Is allergic to cats"),
        ("I believe my flight is on Monday", "Flight is on Monday"),
        # a clause about something else is the speaker's opinion
        ("I think Python is great", "Thinks Python is great"),
    ],
)
def test_offline_a_hedge_before_a_clause_about_the_speaker_leaves_the_clause(text, fact):
    assert offline_facts(text) == [fact]


def test_offline_an_adverb_before_is_names_no_attribute_to_update():
    tired = memory("Really is tired of meetings")

    decisions = OfflineExtractor().decide(offline_facts("I really am happy with my job"), [tired])

    assert decisions == [Decision("ADD", "Really is happy with my job")]


@pytest.mark.parametrize(
    "text",
    ["Hi!", "ok", "thanks", "How are you?", "What is my name?", "Tell me a joke about my cat.", "I see."],
)
def test_offline_questions_greetings_and_filler_give_no_facts(text):
    assert offline_facts(text) == []


def test_offline_assistant_messages_count_only_for_agent_scope():
    text = "I am a cheerful assistant who loves puns."

    assert offline_facts(text, role="assistant") == []
    assert offline_facts(text, role="assistant", agent_scope=True) == [
        "Is a cheerful assistant who loves puns"
    ]


def test_offline_restricting_instructions_filter_by_keyword():
    text = "I deploy on Fridays using ArgoCD. I love sushi."

    assert offline_facts(text, instructions="Only store facts about deployments.") == [
        "Deploys on Fridays using ArgoCD"
    ]
    assert offline_facts(text, instructions="Ignore anything about sushi.") == [
        "Deploys on Fridays using ArgoCD"
    ]
    assert offline_facts(text, instructions="Be concise.") == [
        "Deploys on Fridays using ArgoCD",
        "Loves sushi",
    ]


def test_offline_near_duplicate_is_none():
    existing = memory("Deploys on Fridays using ArgoCD")

    decisions = OfflineExtractor().decide(["Deploys on Fridays using ArgoCD."], [existing])

    assert decisions == [Decision("NONE", existing["text"], memory_id=existing["id"])]


def test_offline_changed_name_is_update():
    extractor = OfflineExtractor()
    first = extractor.decide(
        extractor.extract_facts(
            [{"role": "user", "content": "My name is Alice"}], instructions=None, agent_scope=False
        ),
        [],
    )
    assert first == [Decision("ADD", "Name is Alice")]
    alice = memory("Name is Alice")

    facts = extractor.extract_facts(
        [{"role": "user", "content": "My name is Bob"}], instructions=None, agent_scope=False
    )
    decisions = extractor.decide(facts, [memory("Loves sushi"), alice])

    assert decisions == [Decision("UPDATE", "Name is Bob", memory_id=alice["id"], old_text="Name is Alice")]


def test_offline_changed_place_is_update_but_more_likes_are_added():
    paris, sushi = memory("Lives in Paris"), memory("Loves sushi")

    decisions = OfflineExtractor().decide(["Lives in Berlin", "Loves pizza"], [paris, sushi])

    assert decisions == [
        Decision("UPDATE", "Lives in Berlin", memory_id=paris["id"], old_text="Lives in Paris"),
        Decision("ADD", "Loves pizza"),
    ]


@pytest.mark.parametrize(
    ("old", "text", "fact"),
    [
        # a word of time before the attribute hid it: the new value was added next to the old one
        ("Lives in Paris", "I now live in Kyoto", "Now lives in Kyoto"),
        ("Lives in Paris", "I currently live in Kyoto", "Currently lives in Kyoto"),
        ("Lives in Paris", "I nowadays live in Kyoto", "Nowadays lives in Kyoto"),
        ("Lives in Paris", "I actually live in Rome", "Actually lives in Rome"),
        ("Works at Google", "I still work at Google, in Zurich", "Still works at Google, in Zurich"),
        ("Moved to Berlin", "I just moved to Lisbon", "Just moved to Lisbon"),
        ("Is based in Berlin", "I'm currently based in Toronto", "Is currently based in Toronto"),
        # the word that opened the correction was kept, and the sentence with it, in the first person
        ("Name is Alice", "Correction: my name is Bob", "Name is Bob"),
        ("Works at Acme", "Oh wait, I work at Google now", "Works at Google now"),
        ("Works at Acme", "Sorry, I work at Google", "Works at Google"),
        ("Lives in Paris", "Scratch that - I live in Rome", "Lives in Rome"),
        ("Email is al@example.com", "Oops, my email is bob@example.com", "Email is bob@example.com"),
    ],
)
def test_offline_a_word_of_time_or_a_correction_does_not_hide_the_attribute_a_new_value_replaces(old, text, fact):
    existing = memory(old)

    decisions = OfflineExtractor().decide(offline_facts(text), [existing])

    assert decisions == [Decision("UPDATE", fact, memory_id=existing["id"], old_text=old)]


@pytest.mark.parametrize(
    ("text", "facts"),
    [("By the way, I have a cat", ["Has a cat"]), ("To be honest, I hate meetings", ["Hates meetings"]),
     ("Wait for me, I am almost there", ["Wait for me, I am almost there"]), ("Sorry I'm late", ["Sorry I'm late"])],
)
def test_offline_an_aside_before_a_statement_is_dropped_only_before_a_mark(text, facts):
    assert offline_facts(text) == facts


@pytest.mark.parametrize(
    ("old", "text"),
    [("Lives in Paris", "I also live in Kyoto"), ("Works at Google", "I sometimes work at a cafe")],
)
def test_offline_other_adverbs_before_the_attribute_add_a_value(old, text):
    decisions = OfflineExtractor().decide(offline_facts(text), [memory(old)])

    assert [decision.event for decision in decisions] == ["ADD"]


def test_offline_retraction_deletes_the_matching_memory():
    argo, sushi = memory("Deploys on Fridays using ArgoCD"), memory("Loves sushi")
    extractor = OfflineExtractor()

    facts = extractor.extract_facts(
        [{"role": "user", "content": "I no longer use ArgoCD."}], instructions=None, agent_scope=False
    )
    decisions = extractor.decide(facts, [sushi, argo])

    assert decisions == [Decision("DELETE", argo["text"], memory_id=argo["id"])]


@pytest.mark.parametrize("text", [
    "I don't like sushi anymore",
    "Please forget that I love sushi",
    # not taken for retractions: "stopped"/"quit" after "has" or an adverb, "gave up"
    "I've quit eating sushi",
    "I have stopped eating sushi",
    "I finally quit sushi",
    "I gave up sushi",
    # a retraction whose time ("last year") outweighed what it retracts
    "I stopped eating sushi last year",
    "I quit sushi two months ago",
])
def test_offline_other_retractions(text):
    argo, sushi = memory("Deploys on Fridays using ArgoCD"), memory("Loves sushi")
    extractor = OfflineExtractor()

    decisions = extractor.decide(offline_facts(text), [argo, sushi])

    assert decisions == [Decision("DELETE", "Loves sushi", memory_id=sushi["id"])]


def test_offline_nearly_quitting_retracts_nothing():
    job = memory("Loves my job")

    decisions = OfflineExtractor().decide(offline_facts("I nearly quit my job"), [job])

    assert decisions == [Decision("ADD", "Nearly quit my job")]


def test_offline_unmatched_forget_is_dropped():
    assert OfflineExtractor().decide(offline_facts("Forget that I own a boat"), [memory("Loves sushi")]) == []


def test_offline_is_deterministic():
    text = "Hi! My name is Alice. I live in Paris and I love sushi. I no longer use ArgoCD. What's up?"
    existing = [memory("Name is Bob"), memory("Uses ArgoCD"), memory("Loves sushi")]
    runs = []
    for _ in range(3):
        extractor = OfflineExtractor()
        facts = extractor.extract_facts(
            [{"role": "user", "content": text}], instructions=None, agent_scope=False
        )
        runs.append((facts, extractor.decide(facts, existing)))

    assert runs[0] == runs[1] == runs[2]
    assert runs[0][0] == ["Name is Alice", "Lives in Paris and I love sushi", "No longer uses ArgoCD"]


# --- custom categories ------------------------------------------------------------------------------------

CATEGORIES = {"food": "Anything about food and drinks", "travel": "Trips, places, holidays and flights",
              "food_preferences": "What the user likes or avoids eating"}


def test_llm_categories_are_the_listed_ones_it_names_in_their_order(llm, fake_openai, caplog):
    fake_openai.script({"memories": [{"id": 1, "categories": ["travel", "food", "weather"]},
                                     {"id": "7", "categories": ["food"]},
                                     {"id": "0", "categories": []}]})

    picked = llm.categorize(["Name is Alice", "Had ramen in Tokyo"], CATEGORIES, vectors=[])

    assert picked == [[], ["food", "travel"]]  # "weather" is not a category, 7 not a memory
    assert "unknown categories ['weather']" in caplog.text and "unknown memory id '7'" in caplog.text
    listing = json.loads(fake_openai.requests[0]["messages"][1]["content"])
    assert listing == {"categories": CATEGORIES, "memories": {"0": "Name is Alice", "1": "Had ramen in Tokyo"}}


@pytest.mark.parametrize(
    "reply", ["food", {"memories": "food"}, {"memories": [{"id": "0"}]}, {"memories": [["food"]]}]
)
def test_llm_bad_categorization_replies_raise(llm, fake_openai, reply):
    fake_openai.script(reply)

    with pytest.raises(ExtractionFailed, match="not JSON|'memories' list"):
        llm.categorize(["Loves sushi"], CATEGORIES, vectors=[])


def test_offline_categories_fit_by_similarity():
    texts = ["Loves sushi and ramen", "Planning a trip to Japan", "Works as a backend engineer at Acme"]

    picked = OfflineExtractor().categorize(texts, CATEGORIES, vectors=list(get_embedder().embed(texts)))

    assert picked == [["food", "food_preferences"], ["travel"], []]


def test_offline_categories_fit_a_text_naming_them_whatever_the_similarity():
    texts = ["My FOOD preferences: no onions", "Foods of the world", "Travelled"]
    unrelated = [np.zeros(get_embedder().dimensions, np.float32)] * len(texts)

    picked = OfflineExtractor().categorize(texts, CATEGORIES, vectors=unrelated)

    assert picked == [["food", "food_preferences"], [], []]  # whole words only


# --- the fake's embeddings, for the embedding layer's tests ---------------------------------------------


def test_fake_embeddings_are_deterministic_unit_vectors():
    with FakeOpenAI(embedding_dimension=16) as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
        default = client.embeddings.create(model="m", input=["loves sushi", "loves sushi", ""]).data
        floats = client.embeddings.create(model="m", input="loves sushi", encoding_format="float").data

    assert len(default[0].embedding) == 16
    assert default[0].embedding == default[1].embedding
    assert floats[0].embedding == pytest.approx(default[0].embedding, abs=1e-6)
    assert sum(value * value for value in default[2].embedding) == pytest.approx(1.0)
    assert fake.embedding_requests[0]["input"] == ["loves sushi", "loves sushi", ""]


def test_llm_prompt_tells_todays_date_not_the_date_mem0_was_imported(llm, fake_openai, monkeypatch):
    """mem0 formats the date into its prompts at import: a worker started days ago would send a stale one."""
    from datetime import date

    from mem0_compat import extraction

    stale, replaced = extraction._PROMPT_DATE.subn("Today's date is 2020-01-01.", USER_MEMORY_EXTRACTION_PROMPT)
    assert replaced == 1  # mem0's prompt still says it that way
    monkeypatch.setattr(extraction, "USER_MEMORY_EXTRACTION_PROMPT", stale)
    fake_openai.script({"facts": []})
    llm.extract_facts(CONVERSATION, instructions=None, agent_scope=False)
    system = fake_openai.requests[0]["messages"][0]["content"]
    assert f"Today's date is {date.today().isoformat()}." in system and "2020-01-01" not in system
