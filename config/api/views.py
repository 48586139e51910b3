"""The base API view: validation helpers that raise the contract's 422 shape, and paging."""

import uuid

from django.db.models import QuerySet
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api.errors import InvalidInput, validation_entries


class ApiView(APIView):
    def validate_body(self, serializer_class, **kwargs) -> dict:
        return validate(serializer_class, self.request.data, loc="body", **kwargs)

    def validate_query(self, serializer_class, *, lists: tuple[str, ...] = ()) -> dict:
        params = {key: self.request.query_params.get(key) for key in self.request.query_params}
        for key in lists:
            if key in params:
                params[key] = self.request.query_params.getlist(key)
        return validate(serializer_class, params, loc="query")

    def path_uuid(self, name: str) -> uuid.UUID:
        return parse_uuid(self.kwargs[name], loc=["path", name])

    @staticmethod
    def page(queryset: QuerySet, serializer_class, *, offset: int, limit: int, total: int | None = None):
        items = list(queryset[offset : offset + limit])
        total = queryset.count() if total is None else total
        return Response({"items": serializer_class(items, many=True).data, "offset": offset, "limit": limit,
                         "total": total})


def validate(serializer_class, data, *, loc: str, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    if not serializer.is_valid():
        raise InvalidInput(validation_entries(serializer.errors, [loc]))
    return serializer.validated_data


def parse_uuid(value: str, *, loc: list) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise InvalidInput.at(loc, "Input should be a valid UUID", "uuid_parsing", input=str(value)[:200]) from None
