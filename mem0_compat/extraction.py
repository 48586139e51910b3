"""Fact extraction and the ADD / UPDATE / DELETE / NONE decision behind mem0's `add(infer=True)`.

Two extractors share one interface (`Extractor`):

- `LlmExtractor` runs mem0's classic two-step flow with mem0's own prompts (imported, never copied): a fact
  extraction call (`USER_MEMORY_EXTRACTION_PROMPT`, `AGENT_MEMORY_EXTRACTION_PROMPT`, or the space's custom
  instructions) answering `{"facts": [...]}`, then an update-decision call (`get_update_memory_messages`)
  answering `{"memory": [{"id", "text", "event", "old_memory"?}]}`.
- `OfflineExtractor` is a deterministic heuristic for when no LLM is configured (see its docstring).

Both also tag memories with the custom categories an add names (`categorize`): the LLM in one more call, the
offline extractor by embedding similarity and the category's name in the text.

`extractor_for` picks one from a memory space's `llmModelName` / `llmBaseUrl` and the settings.
"""

from __future__ import annotations

import functools
import http.cookiejar
import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace
from typing import Protocol
from urllib.parse import urlsplit

import numpy as np
import openai
from django.conf import settings
from mem0.configs.prompts import (
    AGENT_MEMORY_EXTRACTION_PROMPT,
    USER_MEMORY_EXTRACTION_PROMPT,
    get_update_memory_messages,
)
from mem0.llms.base import LLMBase
from mem0.utils.factory import LlmFactory

from config.api.errors import InvalidInput
from mem0_compat.embeddings import EmbedderUnavailable, get_embedder
from mem0_compat.llm_http import checked_client
from mem0_compat.models import MEMORY_TEXT_MAX_LENGTH
from memoryspaces.validators import base_url_option, llm_model_refusal, split_provider

logger = logging.getLogger(__name__)

EVENTS = ("ADD", "UPDATE", "DELETE", "NONE")
JSON_OBJECT = {"type": "json_object"}
# Sent instead of the operator's key to endpoints a tenant chose: the clients need a non-empty key, and
# self-hosted endpoints (Ollama, vLLM) ignore it.
NO_KEY = "no-key"


@dataclass
class Decision:
    event: str  # "ADD" | "UPDATE" | "DELETE" | "NONE"
    text: str  # the new text (ADD/UPDATE), or the existing text (DELETE/NONE)
    memory_id: str | None = None  # the existing memory's id for UPDATE/DELETE/NONE
    old_text: str | None = None  # previous text for UPDATE


class ExtractionFailed(Exception):
    """The LLM was unreachable, timed out, or answered something other than the expected JSON."""


class TooManyFacts(InvalidInput):
    """The messages of one add hold more facts than the offline extractor decides about at once (a 422)."""


class Extractor(Protocol):
    name: str

    def extract_facts(
        self, messages: list[dict], *, instructions: str | None, agent_scope: bool,
        restrictions: str | None = None,
    ) -> list[str]:
        """Facts from `messages`, by `instructions` (custom ones: they replace the default prompt) and
        `restrictions` (an add's includes/excludes: they narrow whichever prompt is used)."""

    def decide(self, facts: list[str], existing: list[dict]) -> list[Decision]: ...

    def categorize(self, texts: list[str], categories: dict[str, str], vectors: list[np.ndarray]) -> list[list[str]]:
        """The names of `categories` ({name: description}) that fit each text, in `categories`' order; both
        are non-empty. `vectors` are the texts' embeddings (unit vectors), already computed for storage."""

    def close(self) -> None:
        """Closes the connections its calls opened to a tenant's endpoint (those to the operator's stay open for
        the next add). An extractor serves one add: left to garbage collection, they stay open until a full
        collection, which a busy worker runs seldom."""


def extractor_for(*, model: str | None, base_url: str | None) -> Extractor:
    """The extractor for a memory space: its own model/base URL, else the settings', else the offline one."""
    model = (model or "").strip() or settings.LLM_MODEL
    if not model:
        return OfflineExtractor()
    return LlmExtractor(model=model, base_url=(base_url or "").strip() or settings.LLM_BASE_URL)


def is_agent_scope(scope: dict, messages: list[dict]) -> bool:
    """Whether an add extracts the agent's memories (mem0's Memory._should_use_agent_memory_extraction): an
    agent_id is given and the messages hold an assistant message. Then, and only then, the LLM gets mem0's
    agent prompt and the offline extractor reads the assistant's messages too."""
    return bool(scope.get("agent_id")) and any(message.get("role") == "assistant" for message in messages)


# ----------------------------------------------------------------------------------------------------
# LLM extractor
# ----------------------------------------------------------------------------------------------------


def conversation_text(messages: list[dict]) -> str:
    """The conversation as mem0 lays it out for its prompts: one `role: content` line per message."""
    return "".join(
        f"{m['role']}: {m['content']}\n"
        for m in messages
        if m.get("role") in ("system", "user", "assistant") and m.get("content") is not None
    )


_UNSTORABLE = re.compile(r"[\x00\ud800-\udfff]")


def _storable(value):
    """The value with its strings (in lists and objects too) rid of NUL, which PostgreSQL refuses, and of lone
    surrogates (a model that split an emoji: "Berlin \\ud83d"), which UTF-8 and the embedders' tokenizers
    refuse. json.loads joins a valid surrogate pair into one character, so any surrogate left is lone."""
    if isinstance(value, str):
        return _UNSTORABLE.sub("", value)
    if isinstance(value, list):
        return [_storable(item) for item in value]
    if isinstance(value, dict):
        return {key: _storable(item) for key, item in value.items()}
    return value


def parse_json_reply(reply: object, *, source: str) -> dict:
    """The JSON object in an LLM reply, tolerating code fences and <think> blocks around it, with storable
    strings."""
    if not isinstance(reply, str):
        raise ExtractionFailed(f"{source} answered no text (got {type(reply).__name__})")
    text = re.sub(r"<think>.*?</think>", "", reply, flags=re.DOTALL).strip()
    fenced = re.fullmatch(r"```[\w-]*\s*\n?(.*?)\n?\s*```", text, flags=re.DOTALL)
    if fenced:
        text = fenced.group(1).strip()
    try:
        parsed = _decoded(text)
    except ValueError:
        raise ExtractionFailed(f"{source} answered something that is not JSON: {text[:200]!r}") from None
    if not isinstance(parsed, dict):
        raise ExtractionFailed(f"{source} answered JSON that is not an object: {text[:200]!r}")
    return _storable(parsed)


def _decoded(text: str) -> object:
    """The JSON value `text` is, else the object starting at its first "{", whatever follows it (prose with
    braces of its own, which a slice up to the last "}" took in). ValueError if neither parses."""
    decoder = json.JSONDecoder(strict=False)
    try:
        return decoder.decode(text)
    except ValueError:
        start = text.find("{")
        if start < 0:
            raise
        return decoder.raw_decode(text, start)[0]


def _endpoint(url: str) -> tuple:
    """scheme, host, port and path without a trailing slash: two spellings of one endpoint compare equal."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:  # a port that is not a number: an endpoint like no other
        return (url,)
    return scheme, parts.hostname, port, parts.path.rstrip("/")


def is_tenants_endpoint(base_url: str | None) -> bool:
    """Whether `base_url` is one a tenant chose (on its space, or through /configure): any but LLM_BASE_URL."""
    operator_url = settings.LLM_BASE_URL
    return bool(base_url) and not (operator_url and _endpoint(base_url) == _endpoint(operator_url))


def api_key_for(base_url: str | None, provider: str | None = None) -> str | None:
    """The operator's LLM key (None if unset) goes only to the operator's endpoint: LLM_BASE_URL, or, when no
    base URL is named at all, the default endpoint of the operator's provider (LLM_MODEL's; None: OpenAI). A
    base URL a tenant set on its space gets NO_KEY, or any tenant could collect the key with a server of its
    own (never None there: the clients would then take OPENAI_API_KEY from the environment). Another
    provider's default endpoint gets None: that provider's own key from its environment variable, if any
    (an OpenAI key sent to DeepSeek's endpoint would hand it to a third party)."""
    if is_tenants_endpoint(base_url):
        return NO_KEY
    if base_url is None and provider != split_provider(settings.LLM_MODEL or "")[0]:
        return None
    return settings.LLM_API_KEY


def _http_client_for(base_url: str | None):
    """For a tenant's endpoint, the client that connects only where LLM_ALLOWED_HOSTS allows (`checked_client`);
    None for the operator's, whose client is shared (`_operators_http_client`)."""
    return checked_client() if is_tenants_endpoint(base_url) else None


@functools.cache
def _operators_http_client():
    """One HTTP client per process for the operator's endpoint, which every add shares (as OpenAI's clients may
    be shared across threads): its connections stay alive from one add to the next, its TLS context is made
    once. The OpenAI client's own kind, with its defaults; the key and timeout go with each request. It keeps
    no cookies: one the endpoint set in answer to a tenant's call would go with every other tenant's."""
    return openai.DefaultHttpxClient(cookies=http.cookiejar.CookieJar(
        policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[])))


# A forked process (a worker) opens connections of its own: those of its parent are not its to use.
os.register_at_fork(after_in_child=_operators_http_client.cache_clear)


class _Chat:
    """A chat client an add makes: closing it closes the connections it opened to a tenant's endpoint. Those to
    the operator's are the shared client's, kept for the next add."""

    _own_http_client = None  # `_http_client_for`'s

    def close(self) -> None:
        if self._own_http_client is not None:
            self._own_http_client.close()


_NO_CONFIG = SimpleNamespace(config=None)  # for LLMBase._is_reasoning_model: no explicit setting, the name decides


class _OpenAIChat(_Chat):
    """Chat completions against any OpenAI-compatible endpoint."""

    def __init__(self, model: str, base_url: str | None):
        self.model = model
        self._own_http_client = _http_client_for(base_url)
        self.client = openai.OpenAI(
            base_url=base_url or None,
            api_key=api_key_for(base_url) or NO_KEY,
            timeout=settings.LLM_TIMEOUT_SECONDS,
            max_retries=1,
            http_client=self._own_http_client or _operators_http_client(),
        )

    def complete(self, messages: list[dict]) -> object:
        # OpenAI refuses any temperature but the default for reasoning models (o1, o3, gpt-5): mem0's own rule
        # (its config-less heuristic on the name) tells which, as its OpenAI provider leaves it out for them.
        sampling = {} if LLMBase._is_reasoning_model(_NO_CONFIG, self.model) else {"temperature": 0}
        response = self.client.chat.completions.create(
            model=self.model, messages=messages, response_format=JSON_OBJECT, **sampling
        )
        if not response.choices:
            return None
        return response.choices[0].message.content


class _Mem0ProviderChat(_Chat):
    """Chat through one of mem0's own provider clients (anthropic, ollama, gemini, ...)."""

    def __init__(self, provider: str, model: str, base_url: str | None):
        option = base_url_option(provider)
        if option is None:
            base_url = None  # its library calls the provider's own API: the operator's key is not for it
        config = {"model": model, "api_key": api_key_for(base_url, provider), "temperature": 0}
        if base_url:
            config[option] = base_url
        self.llm = LlmFactory.create(provider, config)
        client = getattr(self.llm, "client", None)
        if isinstance(client, openai.OpenAI):
            # mem0's OpenAI-based providers (lmstudio, vllm, deepseek, ...) keep the library's defaults, 600 s
            # and two retries: a hung provider would hold the add for half an hour instead of failing as a 502.
            # The endpoint is the client's own: a provider's default (vllm's localhost) is checked too.
            self._own_http_client = _http_client_for(str(client.base_url))
            self.llm.client = client.with_options(timeout=settings.LLM_TIMEOUT_SECONDS, max_retries=1,
                                                  http_client=self._own_http_client or _operators_http_client())

    def complete(self, messages: list[dict]) -> object:
        return self.llm.generate_response(messages, response_format=JSON_OBJECT)


def _describe_call_error(exc: Exception) -> str:
    if isinstance(exc, openai.APITimeoutError):
        return f"timed out after {settings.LLM_TIMEOUT_SECONDS:g}s"
    if isinstance(exc, openai.APIConnectionError):
        return f"is unreachable ({exc.__cause__ or exc})"  # the cause says why: refused, not resolved, ...
    if isinstance(exc, openai.APIStatusError):
        return f"answered HTTP {exc.status_code} ({exc.message})"
    return f"failed: {type(exc).__name__}: {exc}"


_PROMPT_DATE = re.compile(r"Today's date is \d{4}-\d{2}-\d{2}\.")

CATEGORIZE_PROMPT = """You sort memories into categories. The user message is a JSON object: "categories" maps \
each category's name to its description, "memories" maps each memory's id to its text.

For every memory, choose the categories whose description fits it: none, one or several, named exactly as \
given. Answer with a JSON object: {"memories": [{"id": "<memory id>", "categories": ["<name>", ...]}, ...]}"""


class LlmExtractor:
    """mem0's classic fact extraction and update decision, with mem0's prompts, against a configured LLM."""

    def __init__(self, *, model: str, base_url: str | None):
        self.name = model
        self.base_url = base_url
        self._chat = None

    def extract_facts(
        self, messages: list[dict], *, instructions: str | None, agent_scope: bool,
        restrictions: str | None = None,
    ) -> list[str]:
        system_prompt = self._fact_prompt(instructions, restrictions, agent_scope)
        user_prompt = f"Input:\n{conversation_text(messages)}"
        if "json" not in (system_prompt + user_prompt).lower():
            # OpenAI refuses json_object mode unless the prompt mentions JSON; custom instructions may not.
            system_prompt += '\n\nAnswer with a JSON object whose "facts" key holds a list of strings.'
        reply = self._ask(
            [{"role": "system", "content": system_prompt}, {"role": "user", "content": user_prompt}]
        )
        facts = reply.get("facts")
        if not isinstance(facts, list) or not all(isinstance(fact, str) for fact in facts):
            raise ExtractionFailed(
                f"LLM {self.name} answered without a 'facts' list of strings: {reply!r:.200}"
            )
        return [fact for fact in map(str.strip, facts) if fact and self._storable_length(fact, "a fact")]

    def decide(self, facts: list[str], existing: list[dict]) -> list[Decision]:
        if not facts:
            return []
        # Temporary integer ids, as mem0 does, so the LLM cannot invent or garble uuids.
        by_temp_id = {str(index): memory for index, memory in enumerate(existing)}
        old_memory = [{"id": temp_id, "text": memory["text"]} for temp_id, memory in by_temp_id.items()]
        prompt = get_update_memory_messages(old_memory, facts)
        reply = self._ask([{"role": "user", "content": prompt}])
        items = reply.get("memory")
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise ExtractionFailed(
                f"LLM {self.name} answered without a 'memory' list of objects: {reply!r:.200}"
            )
        decisions = []
        decided_ids = set()
        for item in items:
            decision = self._decision(item, by_temp_id)
            if decision is None:
                continue
            # a NONE changes nothing: it does not hide a change of its memory the reply makes too
            if decision.memory_id is not None and decision.event != "NONE":
                if decision.memory_id in decided_ids:
                    logger.warning(
                        "LLM %s decided twice about memory %s; kept the first", self.name, decision.memory_id
                    )
                    continue
                decided_ids.add(decision.memory_id)
            decisions.append(decision)
        return decisions

    def categorize(self, texts: list[str], categories: dict[str, str], vectors: list[np.ndarray]) -> list[list[str]]:
        listing = {"categories": categories, "memories": {str(index): text for index, text in enumerate(texts)}}
        reply = self._ask([{"role": "system", "content": CATEGORIZE_PROMPT},
                           {"role": "user", "content": json.dumps(listing, ensure_ascii=False)}])
        items = reply.get("memories")
        if not isinstance(items, list) or not all(
            isinstance(item, dict) and isinstance(item.get("categories"), list)
            and all(isinstance(name, str) for name in item["categories"]) for item in items
        ):
            raise ExtractionFailed(
                f"LLM {self.name} answered without a 'memories' list of ids and categories: {reply!r:.200}"
            )
        chosen: list[set[str]] = [set() for _ in texts]
        for item in items:
            index = str(item.get("id", "")).strip()
            if not index.isdigit() or int(index) >= len(texts):
                logger.warning("LLM %s categorized an unknown memory id %r; ignored", self.name, item.get("id"))
                continue
            unknown = set(item["categories"]) - categories.keys()
            if unknown:
                logger.warning("LLM %s answered unknown categories %s; dropped", self.name, sorted(unknown))
            chosen[int(index)].update(item["categories"])
        return [[name for name in categories if name in names] for names in chosen]

    def _fact_prompt(self, instructions: str | None, restrictions: str | None, agent_scope: bool) -> str:
        if instructions and instructions.strip():
            prompt = instructions
        else:
            prompt = AGENT_MEMORY_EXTRACTION_PROMPT if agent_scope else USER_MEMORY_EXTRACTION_PROMPT
            # mem0 writes the date into its prompts once, at import: a worker running for days would tell the
            # model a stale "today", and facts such as "went to Paris yesterday" would be dated wrong.
            prompt = _PROMPT_DATE.sub(f"Today's date is {date.today().isoformat()}.", prompt)
        return f"{prompt}\n\n{restrictions}" if restrictions else prompt

    def _decision(self, item: dict, by_temp_id: dict[str, dict]) -> Decision | None:
        event = str(item.get("event", "")).strip().upper()
        text = item.get("text")
        text = text.strip() if isinstance(text, str) else ""
        if event not in EVENTS:
            logger.warning("LLM %s answered an unknown event %r; ignored", self.name, item.get("event"))
            return None
        if event in ("ADD", "UPDATE") and not text:
            logger.warning("LLM %s answered %s without text; ignored", self.name, event)
            return None
        if event in ("ADD", "UPDATE") and not self._storable_length(text, event):
            return None
        if event == "ADD":
            return Decision("ADD", text)
        memory = by_temp_id.get(str(item.get("id", "")).strip())
        if memory is None:
            logger.warning(
                "LLM %s answered %s for unknown memory id %r; ignored", self.name, event, item.get("id")
            )
            return None
        if event == "UPDATE":
            return Decision("UPDATE", text, memory_id=memory["id"], old_text=memory["text"])
        return Decision(event, memory["text"], memory_id=memory["id"])

    def _storable_length(self, text: str, what: str) -> bool:
        """Whether `text` may be a memory. A runaway reply's megabyte "fact" may not: it would not fit
        PostgreSQL's full-text index (the add failing as if the database were down), nor tell anything."""
        if len(text) <= MEMORY_TEXT_MAX_LENGTH:
            return True
        logger.warning("LLM %s answered %s of %d characters, longer than a memory may be (%d); ignored",
                       self.name, what, len(text), MEMORY_TEXT_MAX_LENGTH)
        return False

    def _ask(self, messages: list[dict]) -> dict:
        chat = self._client()
        try:
            reply = chat.complete(messages)
        except Exception as exc:
            raise ExtractionFailed(f"LLM {self.name} {_describe_call_error(exc)}") from exc
        return parse_json_reply(reply, source=f"LLM {self.name}")

    def _client(self):
        if self._chat is None:
            # Checked again before each add, as LLM_ALLOWED_HOSTS or LLM_BASE_URL may have changed since the space
            # was set. Not by what a name resolves to: the clients that connect there check it when connecting.
            refusal = llm_model_refusal(self.name, self.base_url)
            if refusal:
                raise ExtractionFailed(refusal)
            provider, model = split_provider(self.name)
            try:
                if provider is None:
                    self._chat = _OpenAIChat(model, self.base_url)
                else:
                    self._chat = _Mem0ProviderChat(provider, model, self.base_url)
            except Exception as exc:
                raise ExtractionFailed(f"LLM {self.name} could not be set up: {exc}") from exc
        return self._chat

    def close(self) -> None:
        if self._chat is not None:
            self._chat.close()
            self._chat = None


# ----------------------------------------------------------------------------------------------------
# Offline heuristic extractor
# ----------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
_WHITESPACE = re.compile(r"\s+")
_LEADING_FILLER = re.compile(
    r"^(?:(?:hi|hello|hey|there|ok|okay|thanks|thank you|please|well|so|also|and|but|actually|oh|yes|yeah|"
    r"no|sure|great|cool|anyway|btw)\b[\s,;:!.-]*"
    # words that open a correction or an aside, when a mark follows them ("Wait for me" is kept whole)
    r"|(?:correction|sorry|wait|oops|hmm+|um+|uh+|by the way|to be honest|in fact|scratch that|fyi)\s*[,;:!.-]+\s*)+",
    re.IGNORECASE,
)
_FIRST_PERSON = frozenset(
    "i i'm im i've i'd i'll me my mine myself we we're we've we'll we'd our ours us".split()
)
_QUESTION_OPENERS = frozenset(
    """what why how where when who whom whose which can could would will do does did is are should shall
    may""".split()
)
_REQUEST_OPENERS = ("tell me", "show me", "give me", "help me", "let me", "let's", "lets", "remind me")
_STOPWORDS = frozenset(
    """a an the is are was were be been being am to of in on at for with and or but it its that this
    these those i i'm im i've i'd i'll me my mine myself we we're we've we'll we'd our ours us you your
    he she they them has have had do does did so just also too very really quite then than as by from
    into about up out will would can could should shall may might must ok okay thanks thank hi hello hey
    yes yeah sure well see agree know guess think understand fine good great cool nice right""".split()
)
_NEGATIONS = frozenset("not no never n't don't doesn't didn't won't can't cannot isn't aren't wasn't".split())
# Words of a retraction, and of when it happened ("Stopped smoking last year"), which the memory it retracts
# does not hold.
_RETRACTION_WORDS = _NEGATIONS | frozenset(
    """longer anymore any more forget that about stopped stop quit gave given ago last yesterday recently
    finally week weeks month months year years""".split()
)
_INSTRUCTION_WORDS = frozenset(
    """only extract store save remember record keep capture track fact facts information info detail details
    user user's users memories memory related relevant include ignore exclude never anything everything thing
    things mention mentions mentioned conversation conversations message messages assistant preferences
    preference don't do not any""".split()
)
_EXCLUDING = re.compile(r"\b(?:ignore|exclude|never|don't|do not|skip)\b", re.IGNORECASE)

# "I" and a negated auxiliary, spelt out or contracted (with the apostrophe or without), as a fact. Spelt-out
# forms that the other rewrites turn into the same ("I will not" -> "Will not") are not repeated here.
_NEGATED_AUXILIARIES = {
    "do not|don't|dont": "Does not",
    "did not|didn't|didnt": "Did not",
    "cannot|can not|can't|cant": "Cannot",
    "won't|wont": "Will not",
    "haven't|havent": "Has not",
    "hadn't|hadnt": "Had not",
    "wasn't|wasnt": "Was not",
    "wouldn't|wouldnt": "Would not",
    "couldn't|couldnt": "Could not",
    "shouldn't|shouldnt": "Should not",
    "mustn't|mustnt": "Must not",
}
# Rewrites of a leading first-person subject into mem0's subjectless third person; the first match wins.
_SUBJECT_REWRITES = [
    (re.compile(r"^my\s+", re.I), ""),
    (re.compile(r"^(?:i am|i'm|im) not\s+", re.I), "Is not "),
    (re.compile(r"^(?:i am|i'm|im)\s+(?=\w{3,}ing\b)", re.I), ""),  # "I'm looking for" -> "Looking for"
    (re.compile(r"^(?:i am|i'm|im)\s+", re.I), "Is "),
    (re.compile(r"^(?:i have|i've|ive)\s+", re.I), "Has "),
    *((re.compile(rf"^i (?:{forms})\s+", re.I), f"{fact} ") for forms, fact in _NEGATED_AUXILIARIES.items()),
    (re.compile(r"^(?:i will|i'll)\s+", re.I), "Will "),
    (re.compile(r"^(?:i would|i'd)\s+", re.I), "Would "),
]
# Words between "I" and its verb: these adverbs (and "myself", "kind of"), and any word of 6 letters or more
# ending in -ly but not -ply (verbs such as apply, supply, multiply; "simply" and "deeply" are named). Taken for
# the verb, "I now live" became "Nows live" and "I finally quit" "Finallies quit". Commas may part them ("I really,
# really love"), not the last one from the verb.
_ADVERBS = (
    "no longer|always|never|often|sometimes|usually|also|just|still|already|only|really|mostly|mainly|"
    "currently|generally|normally|typically|rarely|regularly|recently|actually|definitely|absolutely|totally|truly|"
    "now|nowadays|even|once|then|ever|soon|fully|simply|deeply|myself|kind of|sort of|kinda|sorta|[a-z]{4,}(?<!p)ly|"
    "almost|rather|seldom|maybe|later|first|somehow|too|either"
)
_I_ADVERBS = re.compile(rf"^i\s+((?:(?:{_ADVERBS})(?:,\s*|\s+))*(?:{_ADVERBS})\s+)", re.IGNORECASE)
_ONLY_ADVERBS = re.compile(rf"(?:(?:{_ADVERBS})\s*)+", re.IGNORECASE)
_RETRACTION = re.compile(
    rf"\bno longer\b|\bany ?more\b|^forget\b"
    # "Has finally quit"; "Nearly quit" did not
    rf"|^(?:(?:has|had)\s+)?(?:(?!almost|nearly)(?:{_ADVERBS})\s+)*(?:stopped|quit|gave up|given up)\b",
    re.IGNORECASE,
)
# "I think" and the like before a clause about the speaker: the clause is the fact ("I think I prefer tea" ->
# "Prefers tea", as mem0's prompts word it), not "Thinks I prefer tea".
_HEDGE = re.compile(
    r"^i\s+(?:think|guess|believe|suppose|reckon|feel like)\s+(?:that\s+)?(?=(?:i|i'm|i've|i'd|i'll|my)\s)",
    re.IGNORECASE,
)
_I_VERB = re.compile(r"^i\s+([a-z]+)\b(?![',])", re.IGNORECASE)  # a word before a comma is no verb: "I still, ..."
_UNCHANGED_VERBS = frozenset(
    """was had went met bought got made took saw came left ate drank began found gave knew lost ran said sold
    sent spent told thought wrote won became built felt flew grew heard kept led paid put quit set sat slept
    spoke stood taught understood woke drove rode chose broke did forgot caught brought fought sought fell swam
    threw wore drew hid bit dug hung lent bent meant dealt shook stole struck swore tore wept froze rang sang
    sank shot lit forgave withdrew overslept mistook learnt dreamt burnt knelt swept can could should must
    might may will would ought""".split()
)
_IRREGULAR_PRESENT = {"have": "has", "do": "does", "go": "goes", "be": "is", "wanna": "wants to", "gotta": "has to"}
# A verb in -ed is in the past ("moved", "tried"), but one in -eed only when it is the past of a verb in -ee
# (agree, free): need, feed, breed, proceed, succeed are present.
_PAST_IN_EED = ("agreed", "freed", "guaranteed", "decreed", "refereed")

# Facts about a single-valued attribute: a new value replaces the old one (UPDATE) instead of adding to it.
_VALUE_PREDICATE = re.compile(
    r"^(lives (?:in|at)|works (?:at|for|as)|is from|is based in|moved to|is called|is named)\s+\S",
    re.IGNORECASE,
)
# Words that say when (or that, after all) a value holds, not which attribute it is: "Now lives in Kyoto" and
# "Is currently based in Toronto" set the attribute of "Lives in Paris" and "Is based in Berlin".
_TIME_ADVERB = re.compile(
    r"\b(?:now|currently|still|recently|just|already|actually|finally|presently|nowadays)\s+", re.IGNORECASE
)
_COPULA = re.compile(r"^((?:[\w'-]+\s+){0,3}?[\w'-]+)\s+(?:is|are|was|were)\s+\S", re.IGNORECASE)

NEAR_DUPLICATE_JACCARD = 0.8
# The cosine similarity between a memory and "name: description" at which the category fits. Measured with
# MiniLM on 42 short facts x 10 categories (45 pairs that fit, 375 that do not): 0.225 tags 29 that fit and 2
# others; 0.2 tags 31 and 6, 0.25 tags 26 and 1, 0.3 tags 20 and none.
CATEGORY_SIMILARITY = 0.225
MAX_OFFLINE_FACTS = 200
RETRACTION_MIN_OVERLAP = 0.5


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def _stem(word: str) -> str:
    """Crude suffix stripping, applied the same way to both sides of a comparison ("uses"/"used"/"using")."""
    for suffix in ("ing", "ies", "es", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            word = word[: -len(suffix)]
            break
    return word[:-1] if word.endswith("e") and len(word) > 2 else word


def _content(text: str, *, ignore: frozenset[str] = frozenset()) -> set[str]:
    return {_stem(word) for word in _words(text) if word not in _STOPWORDS and word not in ignore}


def _normalised(text: str) -> str:
    return " ".join(_words(text))


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def _related(a: str, b: str) -> bool:
    """Stems that name the same thing for keyword filters: equal, or one a 4+ letter prefix of the other."""
    short, long = sorted((a, b), key=len)
    return short == long or (len(short) >= 4 and long.startswith(short))


def _third_person(verb: str) -> str:
    lower = verb.lower()
    if lower in _IRREGULAR_PRESENT:
        return _IRREGULAR_PRESENT[lower]
    if lower in _UNCHANGED_VERBS or _is_past_tense(lower):
        return lower
    if lower.endswith(("s", "sh", "ch", "x", "z", "o")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in ("a", "e", "i", "o", "u"):
        return lower[:-1] + "ies"
    return lower + "s"


def _is_past_tense(verb: str) -> bool:
    return verb.endswith("ed") and (not verb.endswith("eed") or verb.endswith(_PAST_IN_EED))


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def rewrite_first_person(sentence: str) -> str:
    """ "I deploy on Fridays" -> "Deploys on Fridays", "My name is Al" -> "Name is Al"; others unchanged.
    Adverbs after "I" stay in front of what the rest becomes: "I usually don't eat" -> "Usually does not eat"."""
    hedge = _HEDGE.match(sentence)
    if hedge:
        return rewrite_first_person(sentence[hedge.end():])
    adverbs = _I_ADVERBS.match(sentence)
    if adverbs:
        rest = f"I {sentence[adverbs.end():]}"
        rewritten = rewrite_first_person(rest)
        if rewritten == _capitalised(rest):  # nothing to rewrite after the adverbs either
            return _capitalised(sentence)
        return _capitalised(f"{adverbs.group(1).lower()}{rewritten[:1].lower()}{rewritten[1:]}")
    for pattern, replacement in _SUBJECT_REWRITES:
        if pattern.match(sentence):
            return _capitalised(pattern.sub(replacement, sentence, count=1))
    match = _I_VERB.match(sentence)
    if match:
        return _capitalised(f"{_third_person(match.group(1))}{sentence[match.end() :]}")
    return _capitalised(sentence)


def _is_statement_about_speaker(sentence: str) -> bool:
    words = _words(sentence)
    if not words or sentence.endswith("?") or words[0] in _QUESTION_OPENERS:
        return False
    if sentence.lower().startswith(_REQUEST_OPENERS):
        return False
    return bool(_FIRST_PERSON.intersection(words)) and bool(_content(sentence))


def _sentences(text: str) -> list[str]:
    cleaned = []
    for raw in _SENTENCE_BREAK.split(text.replace("’", "'")):
        sentence = _LEADING_FILLER.sub("", raw.strip()).strip()
        cleaned.append(sentence.rstrip(".! ").strip())
    return [sentence for sentence in cleaned if sentence]


def halves_between_sentences(text: str) -> tuple[str, str]:
    """`text` (2 characters or more) in two shorter parts that together are it, cut where the offline
    extractor's sentences break nearest the middle (a line break, or whitespace after `.`, `!` or `?`), else at
    the whitespace nearest the middle, else at the middle."""
    middle = len(text) // 2
    for boundary in (_SENTENCE_BREAK, _WHITESPACE):
        cuts = [match.end() for match in boundary.finditer(text) if 0 < match.end() < len(text)]
        if cuts:
            middle = min(cuts, key=lambda cut: abs(cut - len(text) // 2))
            break
    return text[:middle], text[middle:]


def _instruction_keywords(instructions: str | None) -> tuple[set[str], set[str]]:
    """(keywords a fact must mention, keywords a fact must not mention) from restricting instructions."""
    include, exclude = set(), set()
    for sentence in _sentences(instructions or ""):
        keywords = _content(sentence, ignore=_INSTRUCTION_WORDS)
        if _EXCLUDING.search(sentence):
            exclude |= keywords
        elif "only" in _words(sentence):
            include |= keywords
    return include, exclude


def _mentions(fact: str, keywords: set[str]) -> bool:
    return any(_related(stem, keyword) for stem in _content(fact) for keyword in keywords)


def _predicate_key(fact: str) -> str | None:
    """The single-valued attribute a fact sets: "Name is Alice" -> "name", "Lives in X" -> "liv in", "Now lives
    in X" -> "liv in"."""
    fact = _TIME_ADVERB.sub("", fact)
    match = _VALUE_PREDICATE.match(fact) or _COPULA.match(fact)
    if not match:
        return None
    words = _words(match.group(1))
    if _NEGATIONS.intersection(words) or _ONLY_ADVERBS.fullmatch(match.group(1)):
        return None  # "Does not know what is ...", "Really is tired" (I really am tired) assign nothing
    return " ".join(_stem(word) for word in words)


class OfflineExtractor:
    """A deterministic heuristic for spaces without an LLM. It is NOT an LLM and understands no language.

    Facts: the user's sentences (and the assistant's, in agent scope: is_agent_scope) that are statements about
    the speaker: first person (I, my, we, our, me, ...), not questions ("?" or a question word first), not
    requests ("tell me ...", "let me ..."), with at least one content word (so "ok", "thanks", "I see" are
    dropped). Leading greetings and filler ("Hi,", "Well,", "Please") are stripped, and so are words that open a
    correction or an aside when a mark follows them ("Correction:", "Oh wait,", "Sorry,", "By the way,"). A
    leading first-person subject is rewritten the way mem0 words facts: "I deploy ..." -> "Deploys ...", "My
    name is ..." -> "Name is ...", "I am ..." -> "Is ...", "I'm looking ..." -> "Looking ...", "I have ..." ->
    "Has ...", "I don't ..." -> "Does not ...", "I won't ..." -> "Will not ..." (_NEGATED_AUXILIARIES), "I think
    I like ..." -> "Likes ..."; any other sentence is kept as written.

    Custom instructions, and an add's includes/excludes: only their restrictions are understood. A sentence
    of them saying "only" gives keywords every fact must mention; one saying "ignore", "exclude", "never",
    "don't", "do not" or "skip" gives keywords no fact may mention (keywords = the sentence's content words
    minus generic ones such as "store", "facts", "user"). Anything else in them is ignored.

    Decisions, per fact, in this order (each existing memory is decided at most once):
    1. retraction ("no longer", "anymore", "forget ...", "stopped ...", "quit ...", "gave up ...", the last
       three after "has" or adverbs too: "Has finally quit ..."): DELETE the existing memory sharing the most
       content words with it, if they share at least half of the fact's content words (not counting those of
       when it happened: "last year"); a matched retraction is never added. An unmatched "forget ..." is
       dropped; another unmatched retraction is added as a fact ("No longer eats meat").
    2. near-duplicate of an existing memory (same normalised text, or content-word Jaccard >= 0.8): NONE.
    3. same single-valued attribute with another value: UPDATE that memory. The attribute is the subject
       before "is/are/was/were" ("Name is Alice" -> "name", "Favourite color is blue" -> "favourite
       color"), or one of "lives in/at", "works at/for/as", "is from", "is based in", "moved to", "is
       called/named". Words of time before it do not change the attribute: "Now lives in Kyoto" and "Currently
       lives in Kyoto" update "Lives in Paris". Verbs like "loves" or "uses" are not single-valued: "Loves
       pizza" adds to "Loves sushi".
    4. otherwise ADD (unless it near-duplicates an earlier fact of the same batch).

    At most MAX_OFFLINE_FACTS facts an add (more is a 422): deciding compares every fact with every other and
    with the memories near each, and 100 messages of 50,000 characters can hold 200,000 sentences.
    """

    name = "offline-heuristic"
    _announced = False

    def extract_facts(
        self, messages: list[dict], *, instructions: str | None, agent_scope: bool,
        restrictions: str | None = None,
    ) -> list[str]:
        self._announce()
        roles = ("user", "assistant") if agent_scope else ("user",)
        include, exclude = _instruction_keywords("\n".join(filter(None, (instructions, restrictions))))
        facts: dict[str, None] = {}  # in order, each once
        for message in messages:
            if message.get("role") not in roles or not isinstance(message.get("content"), str):
                continue
            for sentence in _sentences(message["content"]):
                if not _is_statement_about_speaker(sentence):
                    continue
                fact = rewrite_first_person(sentence)
                if include and not _mentions(fact, include):
                    continue
                if exclude and _mentions(fact, exclude):
                    continue
                facts[fact] = None
                if len(facts) > MAX_OFFLINE_FACTS:
                    raise TooManyFacts.at(
                        ["body", "messages"],
                        f"The offline extractor takes at most {MAX_OFFLINE_FACTS} facts in one add; these "
                        "messages hold more: add them in parts, or verbatim with infer=false", "too_long")
        return list(facts)

    def decide(self, facts: list[str], existing: list[dict]) -> list[Decision]:
        self._announce()
        open_memories = list(existing)
        added: list[str] = []
        decisions = []
        for fact in facts:
            decision = self._decide_one(fact, open_memories, added)
            if decision is None:
                continue
            if decision.memory_id is not None:
                open_memories = [memory for memory in open_memories if memory["id"] != decision.memory_id]
            if decision.event == "ADD":
                added.append(fact)
            decisions.append(decision)
        return decisions

    def _decide_one(self, fact: str, memories: list[dict], added: list[str]) -> Decision | None:
        if _RETRACTION.search(fact):
            target = _retraction_target(fact, memories)
            if target is not None:
                return Decision("DELETE", target["text"], memory_id=target["id"])
            if fact.lower().startswith("forget"):
                return None
        duplicate = next((memory for memory in memories if _near_duplicate(fact, memory["text"])), None)
        if duplicate is not None:
            return Decision("NONE", duplicate["text"], memory_id=duplicate["id"])
        key = _predicate_key(fact)
        if key is not None:
            changed = next((memory for memory in memories if _predicate_key(memory["text"]) == key), None)
            if changed is not None:
                return Decision("UPDATE", fact, memory_id=changed["id"], old_text=changed["text"])
        if any(_near_duplicate(fact, earlier) for earlier in added):
            return None
        return Decision("ADD", fact)

    def categorize(self, texts: list[str], categories: dict[str, str], vectors: list[np.ndarray]) -> list[list[str]]:
        """A category fits a text whose vector is within CATEGORY_SIMILARITY of its "name: description", or
        that holds its name as words ("food", "food_preferences" as "food preferences"; any case)."""
        try:
            described = get_embedder().embed([f"{name}: {description}" for name, description in categories.items()])
        except EmbedderUnavailable as exc:
            raise ExtractionFailed(f"the embedding provider failed: {exc}") from exc
        similarity = np.asarray(vectors) @ np.asarray(described).T
        return [
            [name for column, name in enumerate(categories)
             if similarity[row, column] >= CATEGORY_SIMILARITY or _name_in(name, text)]
            for row, text in enumerate(texts)
        ]

    def close(self) -> None:
        pass  # it opens no connection

    @classmethod
    def _announce(cls):
        if not cls._announced:
            cls._announced = True
            logger.warning(
                "No LLM configured: memories are extracted by the offline heuristic (%s), not by an LLM",
                cls.name,
            )


def _near_duplicate(a: str, b: str) -> bool:
    return _normalised(a) == _normalised(b) or _jaccard(_content(a), _content(b)) >= NEAR_DUPLICATE_JACCARD


def _retraction_target(fact: str, memories: list[dict]) -> dict | None:
    wanted = _content(fact, ignore=_RETRACTION_WORDS)
    if not wanted:
        return None
    best, best_overlap = None, 0
    for memory in memories:
        overlap = len(wanted & _content(memory["text"]))
        if overlap > best_overlap:
            best, best_overlap = memory, overlap
    if best is None or best_overlap / len(wanted) < RETRACTION_MIN_OVERLAP:
        return None
    return best


def _name_in(name: str, text: str) -> bool:
    """Whether the words of a category's name occur in `text`, in a row."""
    wanted, words = _words(name.replace("_", " ")), _words(text)
    return bool(wanted) and any(words[start:start + len(wanted)] == wanted
                                for start in range(len(words) - len(wanted) + 1))
