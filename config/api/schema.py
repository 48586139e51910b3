"""OpenAPI generation (drf-spectacular) that tells the truth about every operation: the API-key security
scheme, `additionalProperties: false` for strict bodies, and the error answers every view can give."""

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


class ApiAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        errors = {"401": ErrorOut, "422": HTTPValidationErrorOut, "503": ErrorOut}
        if "{" in self.path:
            errors["404"] = ErrorOut
        for code, serializer in errors.items():
            responses.setdefault(code, self._get_response_for_code(serializer, code, direction=direction))
        return responses


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "memoryspaces.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": "Authorization",
                "description": "`Token <key>` or `Bearer <key>`; the header `X-API-Key: <key>` works too."}


class StrictSerializerSchema(OpenApiSerializerExtension):
    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        schema["additionalProperties"] = False
        return schema

    def get_name(self, auto_schema, direction):
        return None  # the default component name

