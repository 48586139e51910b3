"""Shapes of the mem0-compatible API. Keys are snake_case (mem0's convention); camelCase spellings of the
same keys (seed 001's documents) are accepted too. Unknown top-level keys are ignored (`extra="ignore"`),
because mem0 clients add fields such as org_id/project_id/version."""

import json
import re
from datetime import UTC, datetime

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers

from config.api.serializers import (
    DateTimeField,
    JSONObjectField,
    NumberField,
    SafeJSONField,
    TextField,
    check_json,
)
from config.limits import METADATA
from mem0_compat.filters import entity_ids_in
from mem0_compat.models import MAX_CATEGORIES, MEMORY_TEXT_MAX_LENGTH, AddRequest, MemoryHistory
from mem0_compat.selectors import ENTITY_TYPES
from memoryspaces.api.serializers import MemorySpaceUpdateIn

MAX_MESSAGES = 100
ENTITY_ID = {"min_length": 1, "max_length": 64, "allow_null": True, "required": False}
_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake_keys(data):
    """Top-level camelCase keys → snake_case (`userId` → `user_id`); nested values are left alone."""
    if not isinstance(data, dict):
        return data
    return {(_CAMEL.sub("_", key).lower() if isinstance(key, str) else key): value for key, value in data.items()}


class Mem0Serializer(serializers.Serializer):
    def to_internal_value(self, data):
        return super().to_internal_value(snake_keys(data))


class EntityIdsIn(Mem0Serializer):
    user_id = TextField(**ENTITY_ID)
    agent_id = TextField(**ENTITY_ID)
    app_id = TextField(**ENTITY_ID)
    run_id = TextField(**ENTITY_ID)


class EntityScopeIn(EntityIdsIn):
    """Entity ids top-level or (mem0ai 2.x) pinned in `filters`: the scope an add or an export is stored under."""

    filters = JSONObjectField(required=False, allow_null=True)

    def validate(self, attrs):
        """The ids taken from `filters` are stored like top-level ones: the same bounds."""
        errors = {}
        for field, value in entity_ids_in(attrs.get("filters")).items():
            try:
                self.fields[field].run_validation(value)
            except serializers.ValidationError as exc:
                errors[field] = exc.detail
        if errors:
            raise serializers.ValidationError({"filters": errors})
        return attrs


class EntityIdsQuery(Mem0Serializer):
    """The entity ids as query parameters (never null there)."""

    user_id = TextField(min_length=1, max_length=64, required=False)
    agent_id = TextField(min_length=1, max_length=64, required=False)
    app_id = TextField(min_length=1, max_length=64, required=False)
    run_id = TextField(min_length=1, max_length=64, required=False)


@extend_schema_field({"oneOf": [{"type": "string", "minLength": 1, "maxLength": MEMORY_TEXT_MAX_LENGTH},
                                {"type": "array", "items": {"type": "object"}}], "nullable": True})
class MessageContentField(TextField):
    """A message's text: a string, or (OpenAI style, as mem0 takes it) a list of parts whose text parts are
    joined with newlines; other parts (images) have no text, nor has null (an assistant's tool call)."""

    default_error_messages = {"parts": "Content parts must be objects"}

    def __init__(self, **kwargs):
        super().__init__(max_length=MEMORY_TEXT_MAX_LENGTH, allow_null=True, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, list):
            if not all(isinstance(part, dict) for part in data):
                self.fail("parts")
            data = "\n".join(part["text"] for part in data
                             if part.get("type") == "text" and isinstance(part.get("text"), str))
        return super().to_internal_value(data)


class MessageIn(serializers.Serializer):
    # Any role, as mem0 takes any: those it does not know ("tool") take no part in extraction or storage.
    role = TextField(min_length=1, max_length=100)
    content = MessageContentField()
    name = TextField(max_length=200, required=False, allow_null=True)


class MessagesField(serializers.ListField):
    """A list of messages; a bare string or a single message object is accepted as the clients do. Messages
    without text are left out (after the count is checked)."""

    def __init__(self, **kwargs):
        super().__init__(child=MessageIn(), min_length=1, max_length=MAX_MESSAGES, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = [{"role": "user", "content": data}]
        elif isinstance(data, dict):
            data = [data]
        return super().to_internal_value(data)

    def run_validation(self, data=serializers.empty):
        return [message for message in super().run_validation(data) if message["content"]]


@extend_schema_field({"oneOf": [{"type": "number", "minimum": 0, "maximum": 253402300799},
                                {"type": "string", "maxLength": 40}]})
class TimestampField(NumberField):
    """Unix seconds (int, float or numeric string), or an ISO 8601 date-time (mem0 2.x types it int | float |
    str, and seed 001's MemoryUpdate a string of at most 40 characters; without an offset it is UTC). Answers
    Unix seconds."""

    default_error_messages = {"invalid": "A valid number or ISO 8601 date-time is required."}

    def __init__(self, **kwargs):
        super().__init__(min_value=0, max_value=253402300799, allow_null=True, required=False, **kwargs)

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError:
            if not isinstance(data, str) or len(data) > 40:
                raise
        try:
            moment = datetime.fromisoformat(data)
            return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
        except (ValueError, OverflowError):
            self.fail("invalid")


CATEGORY_NAME_MAX_LENGTH = 100
CATEGORY_NAME = {"min_length": 1, "max_length": CATEGORY_NAME_MAX_LENGTH}
CATEGORY_DESCRIPTION_MAX_LENGTH = 1000


@extend_schema_field({"type": "object", "minProperties": 1, "maxProperties": 1,
                      "additionalProperties": {"type": "string", "maxLength": CATEGORY_DESCRIPTION_MAX_LENGTH},
                      # OpenAPI 3.0 has no propertyNames: the name's bounds are told, not declared
                      "description": "one key, the category's name (1-100 characters); its value, the "
                                     "category's description",
                      "example": {"food": "Anything about food and drinks"}})
class CustomCategoryField(serializers.DictField):
    """One custom category as mem0 takes it: `{"<name>": "<description>"}`, a single key."""

    child = TextField(max_length=CATEGORY_DESCRIPTION_MAX_LENGTH, allow_blank=True)
    default_error_messages = {"single_key": "A custom category is an object with exactly one key, its name"}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if len(value) != 1:
            self.fail("single_key")
        (name,) = value
        TextField(**CATEGORY_NAME).run_validation(name)  # a name is stored as a category: the same bounds
        return value


class CustomCategoriesField(serializers.ListField):
    """The categories an add may tag its memories with, each name once. Answers the list as received, so a
    queued add's payload validates again in the worker."""

    default_error_messages = {"duplicate": "Category {name!r} is given more than once"}

    def __init__(self, **kwargs):
        super().__init__(child=CustomCategoryField(), max_length=MAX_CATEGORIES, required=False, allow_null=True,
                         **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        names = [name for category in value for name in category]
        for name in names:
            if names.count(name) > 1:
                self.fail("duplicate", name=name)
        return value


class AddIn(EntityScopeIn):
    messages = MessagesField()
    metadata = JSONObjectField(required=False, allow_null=True, limit=METADATA)
    infer = serializers.BooleanField(default=True)
    categories = serializers.ListField(child=TextField(**CATEGORY_NAME), required=False, allow_null=True,
                                       max_length=MAX_CATEGORIES)
    custom_categories = CustomCategoriesField(
        help_text='categories to tag the added memories with, where they fit: [{"<name>": "<description>"}]')
    custom_instructions = TextField(max_length=10_000, required=False, allow_null=True)
    includes = TextField(min_length=1, max_length=2000, required=False, allow_null=True)
    excludes = TextField(min_length=1, max_length=2000, required=False, allow_null=True)
    immutable = serializers.BooleanField(default=False)
    expiration_date = serializers.DateField(required=False, allow_null=True, input_formats=["%Y-%m-%d", "iso-8601"])
    timestamp = TimestampField()
    async_mode = serializers.BooleanField(default=False)
    output_format = serializers.ChoiceField(choices=["v1.0", "v1.1"], required=False, allow_null=True)


class CategoriesField(serializers.ListField):
    """Up to MAX_CATEGORIES category names; a memory with any of them matches."""

    def __init__(self, **kwargs):
        super().__init__(child=TextField(max_length=CATEGORY_NAME_MAX_LENGTH), max_length=MAX_CATEGORIES,
                         required=False, **kwargs)


@extend_schema_field({"type": "string", "maxLength": MAX_CATEGORIES * (CATEGORY_NAME_MAX_LENGTH + 1) - 1,
                      "description": f"comma-separated category names (at most {MAX_CATEGORIES}), such as "
                                     "likes,food"})
class CommaSeparatedCategoriesField(CategoriesField):
    """How a query string names categories (mem0's docs: `?categories=likes,food_preferences`)."""

    def to_internal_value(self, data):
        return super().to_internal_value(data.split(","))


class MemoryQueryIn(EntityIdsIn):
    """What a search and a listing select by: `filters`, and the top-level keys that stand for filters."""

    filters = JSONObjectField(required=False, allow_null=True)
    metadata = JSONObjectField(required=False, allow_null=True)
    categories = CategoriesField(allow_null=True)
    keywords = TextField(min_length=1, max_length=2000, required=False, allow_null=True,
                         help_text="memories whose text holds this, in any case (seed 002's get_all(keywords=…))")
    fields = serializers.ListField(child=TextField(max_length=64), required=False, allow_null=True, max_length=20,
                                   help_text="answer only these fields of each memory (and its id)")
    show_expired = serializers.BooleanField(default=False)


class SearchIn(MemoryQueryIn):
    query = TextField(min_length=1, max_length=2000)
    top_k = serializers.IntegerField(min_value=1, max_value=50, required=False, allow_null=True)
    limit = serializers.IntegerField(min_value=1, max_value=50, required=False, allow_null=True)
    threshold = NumberField(min_value=0, max_value=1, required=False, allow_null=True)
    rerank = serializers.BooleanField(required=False, allow_null=True)
    keyword_search = serializers.BooleanField(required=False, allow_null=True)
    output_format = serializers.ChoiceField(choices=["v1.0", "v1.1"], required=False, allow_null=True)


class GetAllIn(MemoryQueryIn):
    start_date = TextField(max_length=40, required=False, allow_null=True,
                           help_text="only memories created on or after this date (YYYY-MM-DD, or an ISO 8601 "
                                     "date-time), as the filter {created_at: {gte: …}}")
    end_date = TextField(max_length=40, required=False, allow_null=True,
                         help_text="only memories created on or before this date, as {created_at: {lte: …}}")
    page = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False, allow_null=True)
    page_size = serializers.IntegerField(min_value=1, max_value=1000, required=False, allow_null=True)
    top_k = serializers.IntegerField(min_value=1, max_value=1000, required=False, allow_null=True)


class PagesQuery(serializers.Serializer):
    """Page `page` (1 the first) of a listing, `page_size` items a page."""

    page = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)
    page_size = serializers.IntegerField(min_value=1, max_value=1000, required=False)


class V1GetAllQuery(EntityIdsQuery, PagesQuery):
    top_k = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    categories = CommaSeparatedCategoriesField()
    keywords = TextField(min_length=1, max_length=2000, required=False)
    show_expired = serializers.BooleanField(default=False)


class V1ListQuery(V1GetAllQuery):
    version = serializers.ChoiceField(choices=["v2"], required=False,
                                      help_text="v2 (seed 002): the v2 listing, its filters in a JSON body")


class EntityNamePath(serializers.Serializer):
    """The name of `DELETE /v2/entities/{type}/{name}/`: an entity id, to the same bounds."""

    name = TextField(min_length=1, max_length=64)


class DeleteAllQuery(EntityIdsQuery):
    filters = TextField(max_length=10_000, required=False, help_text="a JSON or Python-literal dict")


class HistoryQuery(serializers.Serializer):
    limit = serializers.IntegerField(min_value=1, max_value=1000, required=False,
                                     help_text="at most this many entries: the oldest ones")


class UpdateIn(Mem0Serializer):
    text = TextField(min_length=1, max_length=MEMORY_TEXT_MAX_LENGTH, required=False)
    metadata = JSONObjectField(required=False, allow_null=True, limit=METADATA)
    timestamp = TimestampField()
    expiration_date = serializers.DateField(required=False, allow_null=True, input_formats=["%Y-%m-%d", "iso-8601"])

    def to_internal_value(self, data):
        if isinstance(data, dict) and "text" not in data:
            for alias in ("data", "memory", "message"):  # mem0's own server's clients; seed 002's curl
                if alias in data:
                    data = {**data, "text": data[alias]}
                    break
        return super().to_internal_value(data)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError("At least one of text, metadata, timestamp or expiration_date")
        return attrs


class BatchUpdateItemIn(Mem0Serializer):
    openapi_extra = {"anyOf": [{"required": ["text"]}, {"required": ["metadata"]}]}

    memory_id = serializers.UUIDField()
    text = TextField(min_length=1, max_length=MEMORY_TEXT_MAX_LENGTH, required=False)
    metadata = JSONObjectField(required=False, allow_null=True, limit=METADATA)

    def validate(self, attrs):
        # as UpdateIn: an item changing nothing would still be counted, dated and written in history
        if not attrs.keys() & {"text", "metadata"}:
            raise serializers.ValidationError("At least one of text or metadata")
        return attrs


class BatchUpdateIn(serializers.Serializer):
    memories = BatchUpdateItemIn(many=True, min_length=1, max_length=1000)


class BatchDeleteItemIn(Mem0Serializer):
    memory_id = serializers.UUIDField()


class BatchDeleteIn(serializers.Serializer):
    """The memories under `memories` (mem0's clients) or `memory_ids` (seed 002's curl), not both."""

    openapi_extra = {"oneOf": [{"required": ["memories"]}, {"required": ["memory_ids"]}]}

    memories = BatchDeleteItemIn(many=True, min_length=1, max_length=1000, required=False,
                                 help_text="required unless memory_ids is given")
    memory_ids = BatchDeleteItemIn(many=True, min_length=1, max_length=1000, required=False,
                                   help_text="seed 002's name for memories")

    def validate(self, attrs):
        if "memories" in attrs and "memory_ids" in attrs:
            raise serializers.ValidationError("Give the memories under memories or memory_ids, not both",
                                              code="value_error")
        if "memories" not in attrs and "memory_ids" not in attrs:
            raise serializers.ValidationError({"memories": "This field is required."}, code="required")
        return {"memories": attrs.get("memories", attrs.get("memory_ids"))}


@extend_schema_field({"oneOf": [
    {"type": "object", "required": ["properties"],
     "properties": {"properties": {"type": "object", "minProperties": 1}}},
    {"type": "string", "minLength": 1},
]})
class ExportSchemaField(SafeJSONField):
    """A JSON schema with properties (an object), or its JSON text: anything else is a 422. Answers the
    schema as an object."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except (ValueError, RecursionError):  # RecursionError: "[[[…" nested beyond Python's stack
                raise serializers.ValidationError("schema must be a JSON schema object", code="json_invalid") \
                    from None
            check_json(value)
        properties = value.get("properties") if isinstance(value, dict) else None
        if not isinstance(properties, dict) or not properties:
            raise serializers.ValidationError("schema must be a JSON schema with properties", code="value_error")
        return value


class ExportIn(EntityScopeIn):
    schema = ExportSchemaField(help_text="a JSON schema (object) or its JSON text")


class ExportGetIn(EntityScopeIn):
    """The export by id, else the newest of the entity scope the ids (top-level or in `filters`) name, else the
    newest of the space."""

    memory_export_id = serializers.UUIDField(required=False)
    id = serializers.UUIDField(required=False)


class ExportGetQuery(EntityIdsIn):
    memory_export_id = serializers.UUIDField(required=False)


class FeedbackIn(Mem0Serializer):
    memory_id = serializers.UUIDField()
    feedback = serializers.ChoiceField(choices=["POSITIVE", "NEGATIVE", "VERY_NEGATIVE"], required=False,
                                       allow_null=True)
    feedback_reason = TextField(max_length=5000, required=False, allow_null=True)


class LlmConfigIn(serializers.Serializer):
    """`{provider, config: {model, <provider>_base_url|openai_base_url|base_url|ollama_base_url, ...}}`; other keys
    are ignored."""

    provider = TextField(min_length=1, max_length=100, required=False, allow_null=True)
    config = JSONObjectField(required=False, allow_null=True)


class ConfigureIn(serializers.Serializer):
    """mem0's server configuration: `llm: {provider, config: {model, openai_base_url|base_url}}` and
    `custom_fact_extraction_prompt`. API keys are never stored from here: set them in the environment.
    Validated as well into `space_fields`: the space's fields it sets, held to the bounds a PATCH of the space
    holds them to, their errors named as the caller named the values."""

    llm = LlmConfigIn(required=False, allow_null=True)
    custom_fact_extraction_prompt = TextField(max_length=10_000, required=False, allow_null=True)

    def validate(self, attrs):
        llm = attrs.get("llm") or {}
        config = llm.get("config") or {}
        provider = llm.get("provider") or "openai"
        sent = {}  # the space's field, as a PATCH names it: (the caller's path to the value, the value)
        model = config.get("model")
        if model:
            if provider != "openai" and isinstance(model, str):
                model = f"{provider}/{model}"
            sent["llmModelName"] = (["llm", "config", "model"], model)
        # mem0's provider configs name their endpoint `<provider>_base_url` (vllm_base_url, lmstudio_base_url, ...)
        url_key = next((key for key in (f"{provider}_base_url", "openai_base_url", "base_url", "ollama_base_url")
                        if config.get(key)), None)
        if url_key:
            sent["llmBaseUrl"] = (["llm", "config", url_key], config[url_key])
        if "custom_fact_extraction_prompt" in attrs:
            sent["customInstructions"] = (["custom_fact_extraction_prompt"], attrs["custom_fact_extraction_prompt"])
        space_fields = MemorySpaceUpdateIn(data={name: value for name, (_, value) in sent.items()})
        if not space_fields.is_valid():
            errors = {}
            for name, detail in space_fields.errors.items():
                *parents, leaf = sent[name][0]
                node = errors
                for key in parents:
                    node = node.setdefault(key, {})
                node[leaf] = detail
            raise serializers.ValidationError(errors)
        return {**attrs, "space_fields": space_fields.validated_data}


class MemoryOut(serializers.Serializer):
    id = serializers.UUIDField()
    memory = serializers.CharField()
    hash = serializers.CharField()
    metadata = serializers.DictField(allow_null=True)
    categories = serializers.ListField(child=serializers.CharField())
    user_id = serializers.CharField(allow_null=True)
    agent_id = serializers.CharField(allow_null=True)
    app_id = serializers.CharField(allow_null=True)
    run_id = serializers.CharField(allow_null=True)
    immutable = serializers.BooleanField()
    expiration_date = serializers.DateField(allow_null=True)
    created_at = DateTimeField()
    updated_at = DateTimeField()


class FieldsSelected:
    """A memory as search and get_all answer it: their `fields` option keeps only the fields it names, so
    every field but the id (and a hit's score) may be missing."""

    kept = ("id", "score")

    def get_fields(self):
        fields = super().get_fields()
        for name, field in fields.items():
            field.required = name in self.kept
        return fields


class ListedMemoryOut(FieldsSelected, MemoryOut):
    pass


class SearchHitOut(FieldsSelected, MemoryOut):
    score = serializers.FloatField(help_text="0..1, higher is better")


class HistoryOut(serializers.Serializer):
    id = serializers.UUIDField()
    memory_id = serializers.UUIDField()
    old_memory = serializers.CharField(allow_null=True)
    new_memory = serializers.CharField(allow_null=True)
    event = serializers.ChoiceField(choices=MemoryHistory.Event.values)
    input = serializers.JSONField(allow_null=True)
    metadata = serializers.DictField(allow_null=True)
    created_at = DateTimeField()
    updated_at = DateTimeField()
    is_deleted = serializers.BooleanField()


class AddResultOut(serializers.Serializer):
    id = serializers.UUIDField()
    memory = serializers.CharField()
    event = serializers.ChoiceField(choices=["ADD", "UPDATE", "DELETE"])
    previous_memory = serializers.CharField(required=False)


class AddResultsOut(serializers.Serializer):
    results = AddResultOut(many=True)


class AddV3Out(AddResultsOut):
    status = serializers.ChoiceField(choices=["SUCCEEDED", "PENDING"])
    event_id = serializers.UUIDField(allow_null=True, help_text="set when the add was queued (PENDING)")


class OssAddOut(AddResultsOut):
    event_id = serializers.UUIDField(required=False, help_text="only when the add was queued (async_mode)")


class AddQueuedOut(serializers.Serializer):
    """What the v1 route answers for an add queued with async_mode."""

    message = serializers.CharField()
    status = serializers.ChoiceField(choices=["PENDING"])
    event_id = serializers.UUIDField()


class MemoryTextOut(serializers.Serializer):
    memory = serializers.CharField()


class AddV10ItemOut(serializers.Serializer):
    """One result of an add with output_format v1.0."""

    id = serializers.UUIDField()
    data = MemoryTextOut()
    event = serializers.ChoiceField(choices=["ADD", "UPDATE", "DELETE"])


class AddV1ResultsOut(serializers.Serializer):
    results = PolymorphicProxySerializer(component_name="AddResultOrQueuedOut", resource_type_field_name=None,
                                         serializers=[AddResultOut, AddQueuedOut], many=True)


AddV1Out = PolymorphicProxySerializer(
    component_name="AddV1Out", resource_type_field_name=None, many=False,
    serializers=[AddV1ResultsOut, PolymorphicProxySerializer(
        component_name="AddV10ItemOrQueuedOut", serializers=[AddV10ItemOut, AddQueuedOut],
        resource_type_field_name=None, many=True)],
)


class PageOfMemoriesOut(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = ListedMemoryOut(many=True)


class ResultsOfMemoriesOut(serializers.Serializer):
    results = MemoryOut(many=True)


# GET /v1/memories/: {"results": [...]}; with ?version=v2 (seed 002) a page, or the bare list when not paged.
# anyOf, not a PolymorphicProxySerializer's oneOf: a page holds `results` too, so it fits both objects.
V1_LIST_OUT = {"anyOf": [{"$ref": "#/components/schemas/ResultsOfMemoriesOut"},
                         {"$ref": "#/components/schemas/PageOfMemoriesOut"},
                         {"type": "array", "items": {"$ref": "#/components/schemas/ListedMemoryOut"}}]}


class SearchResultsOut(serializers.Serializer):
    results = SearchHitOut(many=True)


# output_format v1.1 (the default): {"results": [...]}; v1.0: the bare list.
SearchOut = PolymorphicProxySerializer(component_name="SearchOut", resource_type_field_name=None, many=False,
                                       serializers=[SearchResultsOut, SearchHitOut(many=True)])


class MessageOut(serializers.Serializer):
    message = serializers.CharField()


class ExportCreatedOut(MessageOut):
    id = serializers.UUIDField()


class ExportOut(serializers.Serializer):
    id = serializers.UUIDField()
    schema = serializers.JSONField()
    filters = serializers.DictField(allow_null=True)
    created_at = DateTimeField()
    count = serializers.IntegerField()
    memories = serializers.ListField(child=serializers.DictField())


class FeedbackOut(MessageOut):
    memory_id = serializers.UUIDField()
    feedback = serializers.CharField(allow_null=True, required=False)
    feedback_reason = serializers.CharField(allow_null=True, allow_blank=True, required=False)


class ConfigureOut(MessageOut):
    applied = serializers.DictField(help_text="the space settings that changed")


class PingOut(serializers.Serializer):
    status = serializers.CharField()
    org_id = serializers.CharField()
    project_id = serializers.CharField()
    user_email = serializers.CharField(allow_null=True)


class EntityOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    type = serializers.ChoiceField(choices=list(ENTITY_TYPES))
    total_memories = serializers.IntegerField()
    created_at = DateTimeField()
    updated_at = DateTimeField()
    metadata = serializers.DictField(allow_null=True)
    owner = serializers.CharField()


class EntitiesOut(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.CharField(allow_null=True)
    previous = serializers.CharField(allow_null=True)
    results = EntityOut(many=True)


class AddRequestOut(serializers.Serializer):
    id = serializers.UUIDField()
    event_id = serializers.UUIDField(source="id")
    status = serializers.ChoiceField(choices=AddRequest.Status.choices)
    results = serializers.JSONField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    created_at = DateTimeField()
    updated_at = DateTimeField()
