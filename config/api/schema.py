"""OpenAPI generation (drf-spectacular) that tells the truth about every operation: the API-key security
scheme, `additionalProperties: false` for strict bodies, and the error answers every view can give."""

from contextlib import contextmanager

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from rest_framework import serializers

from config.api.serializers import StrictSerializer


class ErrorOut(serializers.Serializer):
    detail = serializers.CharField()


class ValidationErrorItemOut(serializers.Serializer):
    loc = serializers.ListField(child=serializers.JSONField(), help_text="path to the bad input: strings and indexes")
    msg = serializers.CharField()
    type = serializers.CharField()
    input = serializers.JSONField(required=False)
    ctx = serializers.DictField(required=False)


class HTTPValidationErrorOut(serializers.Serializer):
    detail = ValidationErrorItemOut(many=True)


UUID = {"type": "string", "format": "uuid"}
# Path parameters are plain `<str:…>` in the URLs (so that a malformed one is a 422 naming it, not a 404 from
# the resolver); this is what the views accept.
PATH_PARAMETERS = {
    "space_id": UUID,
    "session_id": UUID,
    "memory_id": UUID,
    "event_id": UUID,
    "sequence_id": {"type": "integer", "minimum": 0, "maximum": 2**62},
    "entity_type": {"type": "string", "enum": ["user", "agent", "app", "run"]},
    "name": {"type": "string", "minLength": 1, "maxLength": 64},
}
RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait before retrying"}}


class ApiAutoSchema(AutoSchema):
    def get_request_serializer(self):
        return None  # the views are plain APIViews: a body is what @extend_schema(request=...) declares

    def _get_request_body(self, direction="request"):
        """A DELETE with a declared body (mem0's batch delete) documents it; drf-spectacular would drop it."""
        if self.method == "DELETE" and self.get_request_serializer() is not None:
            with self._as_method("POST"):
                return super()._get_request_body(direction)
        return super()._get_request_body(direction)

    def _get_request_for_media_type(self, serializer, direction="request"):
        """The views validate PATCH bodies in full, never in DRF's partial mode (the fields a PATCH may leave out
        are optional in its serializer): document them as they are, not as "Patched…" copies that require
        nothing."""
        if self.method == "PATCH":
            with self._as_method("PUT"):
                return super()._get_request_for_media_type(serializer, direction)
        schema, required = super()._get_request_for_media_type(serializer, direction)
        # a body that must hold one key of several (`openapi_extra`) is required, though no one key is
        return schema, required or "oneOf" in getattr(serializer, "openapi_extra", {})

    @contextmanager
    def _as_method(self, method: str):
        original, self.method = self.method, method
        try:
            yield
        finally:
            self.method = original

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        """`many=True` serializers with min_length / max_length: minItems / maxItems."""
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        if isinstance(field, serializers.ListSerializer) and schema.get("type") == "array":
            if field.min_length is not None:
                schema["minItems"] = field.min_length
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
        return schema

    def _map_basic_serializer(self, serializer, direction):
        """With what a serializer's `openapi_extra` says that its fields cannot: how many keys it takes, which
        of two is required."""
        schema = super()._map_basic_serializer(serializer, direction)
        schema.update(getattr(serializer, "openapi_extra", {}))
        return schema

    def _insert_field_validators(self, field, schema):
        """A list read from one comma-separated string (documented as a string) has validators that count
        items: drf-spectacular would document that count as the string's maxLength."""
        if isinstance(field, serializers.ListField) and schema.get("type") == "string":
            return
        super()._insert_field_validators(field, schema)

    def _resolve_path_parameters(self, variables):
        parameters = super()._resolve_path_parameters(variables)
        for parameter in parameters:
            if parameter["name"] in PATH_PARAMETERS:
                parameter["schema"] = dict(PATH_PARAMETERS[parameter["name"]])
        return parameters

    def _get_response_bodies(self, direction="response"):
        """Every operation can also answer: 401 (no or bad key), 413 (body over the size limit, from
        RequestSizeLimitMiddleware), 422 (invalid input, or data the database cannot take), 429 (rate limit,
        when API_RATE_LIMIT is set), 503 (database unreachable, or a statement it stopped), and 404 when its
        path names an object."""
        responses = super()._get_response_bodies(direction)
        errors = {"401": ErrorOut, "413": ErrorOut, "422": HTTPValidationErrorOut, "429": ErrorOut,
                  "503": ErrorOut}
        if "{" in self.path:
            errors["404"] = ErrorOut
        for code, serializer in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(serializer, code, direction=direction)
                if code in ("429", "503"):
                    responses[code]["headers"] = RETRY_AFTER
        return responses


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """The three header forms the authentication takes, as three alternative schemes (any one is enough)."""

    target_class = "memoryspaces.authentication.ApiKeyAuthentication"
    name = ["ApiKey", "Bearer", "XApiKey"]

    def get_security_requirement(self, auto_schema):
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "Authorization",
             "description": "`Token <key>` (the default of the datarobot and mem0 clients)"},
            {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <key>`"},
            {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "the key alone"},
        ]


class StrictSerializerSchema(OpenApiSerializerExtension):
    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return schema

    def get_name(self, auto_schema, direction):
        return None  # the default component name


def _json_answer(description: str, schema: dict) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_READY = {"type": "object", "required": ["status", "checks"], "additionalProperties": False, "properties": {
    "status": {"type": "string", "enum": ["ready", "unavailable"]},
    "checks": {"type": "object", "required": ["database", "broker"], "additionalProperties": False,
               "properties": {"database": {"type": "boolean"}, "broker": {"type": "boolean"}}},
}}
SERVICE_PATHS = {
    "/health": {"get": {
        "operationId": "health", "tags": ["Service"], "security": [{}], "summary": "200 while the process runs",
        "responses": {"200": _json_answer("alive", {
            "type": "object", "required": ["status"], "additionalProperties": False,
            "properties": {"status": {"type": "string", "enum": ["ok"]}}})},
    }},
    "/ready": {"get": {
        "operationId": "ready", "tags": ["Service"], "security": [{}],
        "summary": "200 when the database and the broker answer; 503 saying which does not",
        "responses": {"200": _json_answer("ready", _READY), "503": _json_answer("not ready", _READY)},
    }},
}


def add_service_paths(result, generator, request, public):
    """drf-spectacular post-processing hook: /health and /ready are plain Django views (no key, no DRF), so
    the generator does not see them; the contract's document describes them too."""
    result["paths"] = {**SERVICE_PATHS, **result["paths"]}
    return result
