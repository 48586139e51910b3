import ipaddress
import re
from urllib.parse import urlsplit

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.api.serializers import DateTimeField, PageQuery, StrictSerializer, TextField, nullable_text


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


_HOST_LABEL = re.compile(r"(?!-)[\w-]{1,63}(?<!-)\Z")  # \w: IDN letters and Docker's underscores too


@extend_schema_field({"type": "string", "format": "uri", "maxLength": 2083,
                      "pattern": r"^[hH][tT][tT][pP][sS]?://[^\s/?#]+([/?#]\S*)?$"})
class LlmBaseUrlField(TextField):
    """An http(s) URL with a host: a name with or without dots (`http://ollama:11434/v1`, a Docker or
    Kubernetes service name; Django's URLValidator wants a dot or `localhost`), an IPv4 address or a
    bracketed IPv6 one, an optional port."""

    default_error_messages = {"invalid": "Enter a valid http(s) URL with a host"}

    def __init__(self, **kwargs):
        super().__init__(max_length=2083, allow_null=True, required=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        try:
            url = urlsplit(value)
            url.port  # noqa: B018 (raises ValueError for a port that is not a number in 0-65535)
        except ValueError:
            self.fail("invalid")
        if url.scheme not in ("http", "https") or not _is_host(url.hostname or "") or re.search(r"\s", value):
            self.fail("invalid")
        return value


def _is_host(name: str) -> bool:
    if ":" in name or all(label.isdigit() for label in name.split(".")):  # an IPv6 or IPv4 address
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True
    name = name.removesuffix(".")  # a fully qualified name may end with its root
    return len(name) <= 253 and all(_HOST_LABEL.match(label) for label in name.split("."))


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
