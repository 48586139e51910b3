from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.serializers import DateTimeField, PageQuery, StrictSerializer, TextField, nullable_text
from memoryspaces.validators import LLM_BASE_URL_INVALID, is_llm_base_url, llm_host_refusal


class MemorySpaceOut(serializers.Serializer):
    memorySpaceId = serializers.UUIDField(source="id")
    userId = serializers.CharField(source="owner_id")
    tenantId = serializers.UUIDField(source="tenant_id")
    createdAt = DateTimeField(source="created_at")
    description = serializers.CharField(allow_null=True)
    llmModelName = serializers.CharField(source="llm_model_name", allow_null=True)
    llmBaseUrl = serializers.CharField(source="llm_base_url", allow_null=True)
    customInstructions = serializers.CharField(source="custom_instructions", allow_null=True)
    deduplicationKey = serializers.CharField(source="deduplication_key", allow_null=True)


@extend_schema_field({"type": "string", "format": "uri", "maxLength": 2083,
                      "pattern": r"^[hH][tT][tT][pP][sS]?://[^\s/?#]+([/?#]\S*)?$"})
class LlmBaseUrlField(TextField):
    """An http(s) URL with a host (`memoryspaces.validators.is_llm_base_url`) that LLM_ALLOWED_HOSTS allows
    (`llm_host_refusal`)."""

    default_error_messages = {"invalid": LLM_BASE_URL_INVALID}

    def __init__(self, **kwargs):
        super().__init__(max_length=2083, allow_null=True, required=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not is_llm_base_url(value):
            self.fail("invalid")
        refusal = llm_host_refusal(value)
        if refusal:
            raise serializers.ValidationError(refusal, code="value_error")
        return value


class MemorySpaceUpdateIn(StrictSerializer):
    """Only the fields sent change; an explicit null clears one."""

    description = nullable_text(1000)
    llmModelName = nullable_text(200, source="llm_model_name")
    llmBaseUrl = LlmBaseUrlField(source="llm_base_url")
    customInstructions = nullable_text(10000, source="custom_instructions")


class MemorySpaceCreateIn(MemorySpaceUpdateIn):
    """All fields optional; an empty body is fine. Tenant and owner come from the API key."""

    deduplicationKey = TextField(
        source="deduplication_key", min_length=1, max_length=72, allow_null=True, required=False
    )


class MemorySpaceListQuery(PageQuery):
    deduplicationKey = TextField(min_length=1, max_length=72, required=False)


class VersionOut(serializers.Serializer):
    versionString = serializers.CharField()


class SpaceConflictOut(serializers.Serializer):
    detail = serializers.CharField()
    errorName = serializers.CharField(help_text="MemorySpaceDeduplicationConflict")
    deduplicationKey = serializers.CharField()
    existingMemorySpaceId = serializers.UUIDField(allow_null=True)
    existingMemorySpaceUrl = serializers.CharField(allow_null=True)
