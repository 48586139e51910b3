"""The mem0-compatible routes of one memory space: the platform API (v1, v2, v3 generations of the stock
`mem0.MemoryClient`) and the REST shape of mem0's own open-source server. One engine serves them all; the
views only translate shapes."""

import ast
import json
import math
import uuid
from functools import partial

from django.db.models import Q, QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from config.api.errors import BadRequest, InvalidInput, NotFound, validation_entries
from config.api.schema import ErrorOut
from config.api.serializers import check_json
from config.api.views import validate
from mem0_compat import selectors, services, tasks
from mem0_compat.api import serializers as s
from mem0_compat.filters import TermBudget, compile_filters, constrains_one_of
from mem0_compat.models import ENTITY_FIELDS, AddRequest
from mem0_compat.selectors import ENTITY_TYPES
from memoryspaces.api.base import SpaceScopedView
from memoryspaces.services import space_update

TAG = ["mem0: memories"]
NEED_ENTITY = "At least one of user_id, agent_id, or run_id must be provided."
NEEDED_ENTITY_FIELDS = ("user_id", "agent_id", "run_id")
DEFAULT_PAGE_SIZE = 100
# mem0's get of a missing memory answers 200 with null (the client then returns None).
NULLABLE_MEMORY = OpenApiResponse({"allOf": [{"$ref": "#/components/schemas/MemoryOut"}], "nullable": True})


class Mem0View(SpaceScopedView):
    """Base of every mem0 route: the space from the path, and the request helpers they share."""

    def body(self, serializer_class) -> dict:
        return self.validate_body(serializer_class)

    def query(self, serializer_class) -> dict:
        return self.validate_query(serializer_class)

    def memory_id(self):
        return self.path_uuid("memory_id")

    @staticmethod
    def require_entity(scope: dict) -> None:
        """An add needs the ids it stores the memories under."""
        if not any(scope.get(field) for field in NEEDED_ENTITY_FIELDS):
            raise BadRequest(NEED_ENTITY)

    @classmethod
    def require_entity_filter(cls, data: dict) -> None:
        """A search or listing needs one of the ids top-level, or a condition on one in `filters` (see
        `constrains_one_of`); `{"user_id": "*"}` (any user) counts."""
        if not constrains_one_of(data.get("filters"), NEEDED_ENTITY_FIELDS):
            cls.require_entity(data)

    @staticmethod
    def filters_of(data: dict, *, loc: list) -> Q:
        """`filters` plus the top-level entity ids, metadata, categories, keywords and start/end dates, all
        ANDed: one query, so one budget of terms between them."""
        budget = TermBudget()
        condition = compile_filters(data.get("filters"), loc=[*loc, "filters"], budget=budget)
        top_level = {field: data[field] for field in ENTITY_FIELDS if data.get(field)}
        if top_level:
            condition &= compile_filters(top_level, loc=loc, budget=budget)
        if data.get("metadata"):
            condition &= compile_filters({"metadata": data["metadata"]}, loc=loc, budget=budget)
        if data.get("categories"):
            condition &= compile_filters({"categories": {"in": data["categories"]}}, loc=loc, budget=budget)
        if data.get("keywords"):
            condition &= compile_filters({"keywords": data["keywords"]}, loc=loc, budget=budget)
        for option, operator in (("start_date", "gte"), ("end_date", "lte")):  # get_all's range of creation
            if data.get(option):
                condition &= compile_filters({"created_at": {operator: data[option]}}, loc=[*loc, option],
                                             budget=budget)
        return condition

    def page_url(self, page: int | None, size: int) -> str | None:
        """This request's URL at `page`, naming the page size in effect, which may have come in the body."""
        if page is None:
            return None
        params = self.request.query_params.copy()
        params["page"], params["page_size"] = str(page), str(size)
        return self.request.build_absolute_uri(f"{self.request.path}?{params.urlencode()}")


def memory_out(memories, fields: list[str] | None = None) -> list[dict]:
    return only_fields(s.MemoryOut(memories, many=True).data, fields)


def hits_out(hits, fields: list[str] | None = None) -> list[dict]:
    rows = s.MemoryOut([hit.memory for hit in hits], many=True).data
    return only_fields([{**row, "score": round(hit.score, 6)} for row, hit in zip(rows, hits, strict=True)],
                       fields)


def only_fields(rows: list[dict], fields: list[str] | None) -> list[dict]:
    """mem0's `fields` option of search and get_all: each memory with only the fields named, besides its id
    (what every other call takes) and a hit's score (what it is ranked by); all of them when none is named.
    Names of fields our memories lack select nothing."""
    if not fields:
        return rows
    wanted = {*fields, *s.FieldsSelected.kept}
    return [{key: value for key, value in row.items() if key in wanted} for row in rows]


def page_of(data: dict) -> tuple[int, int]:
    """(page, page size) of a listing: `page_size` memories a page (`top_k`, the older name, if not given;
    else DEFAULT_PAGE_SIZE), the first page unless `page` says otherwise."""
    return data.get("page") or 1, data.get("page_size") or data.get("top_k") or DEFAULT_PAGE_SIZE


def add_from(view: Mem0View, space, data: dict) -> tuple[list[dict] | None, AddRequest | None]:
    """Run an add now, or queue it when `async_mode` is set. Returns (results, queued request)."""
    compile_filters(data.get("filters"), loc=["body", "filters"])  # 422 for a malformed filter, before a 400
    view.require_entity(services.entity_scope(data))
    if data.get("async_mode"):
        return None, tasks.add_request_queue(space=space, data=data)
    return services.memory_add_request(space=space, data=data), None


# --- the platform API ------------------------------------------------------------------------------------
class PingView(Mem0View):
    @extend_schema(tags=TAG, responses=s.PingOut, operation_id="mem0Ping", summary="Check the key and the space")
    def get(self, request, space_id):
        space = self.get_space()
        return Response({"status": "ok", "org_id": str(space.tenant_id), "project_id": str(space.pk),
                         "user_email": request.user.email or request.user.get_username()})


class AddV3View(Mem0View):
    @extend_schema(tags=TAG, request=s.AddIn, responses={200: s.AddV3Out, 400: ErrorOut, 502: ErrorOut},
                   operation_id="mem0AddV3",
                   summary="Add memories (mem0ai 2.x)")
    def post(self, request, space_id):
        space = self.get_space()
        results, queued = add_from(self, space, self.body(s.AddIn))
        if queued:
            return Response({"results": [], "status": "PENDING", "event_id": str(queued.pk)})
        return Response({"results": results, "status": "SUCCEEDED", "event_id": None})


class MemoriesV1View(Mem0View):
    """`POST` adds (mem0ai 1.x, seed); `GET` lists by entity ids; `DELETE` deletes by filter."""

    @extend_schema(tags=TAG, request=s.AddIn, responses={200: s.AddV1Out, 400: ErrorOut, 502: ErrorOut},
                   operation_id="mem0AddV1",
                   summary="Add memories (mem0ai 1.x); output_format v1.0 answers a bare list")
    def post(self, request, space_id):
        space = self.get_space()
        data = self.body(s.AddIn)
        results, queued = add_from(self, space, data)
        if queued:
            pending = [{"message": "Memory processing has been queued for background execution",
                        "status": "PENDING", "event_id": str(queued.pk)}]
            return Response(pending if data.get("output_format") == "v1.0" else {"results": pending})
        if data.get("output_format") == "v1.0":
            return Response([{"id": r["id"], "data": {"memory": r["memory"]}, "event": r["event"]}
                             for r in results])
        return Response({"results": results})

    @extend_schema(tags=TAG, parameters=[s.V1ListQuery], request=s.GetAllIn,
                   responses={200: s.V1_LIST_OUT, 400: ErrorOut}, operation_id="mem0ListV1",
                   summary="List memories by entity ids (newest first); with version=v2, by the body's filters")
    def get(self, request, space_id):
        if self.query(s.V1ListQuery).get("version") == "v2":
            # seed 002's curl: the v2 listing, its filters in the GET's body; a bare list unless it pages
            listing = listing_page(self, self.get_space())
            paged = any(key in request.query_params or key in request.data for key in ("page", "page_size"))
            return Response(listing if paged else listing["results"])
        return self.list_by_entity_ids()

    def list_by_entity_ids(self, *, need_entity: bool = False) -> Response:
        space = self.get_space()
        data = self.query(s.V1GetAllQuery)
        if need_entity:
            self.require_entity(data)
        memories = selectors.memory_list(space=space, filters=self.filters_of(data, loc=["query"]),
                                         show_expired=data["show_expired"])
        page, size = page_of(data)
        return Response({"results": memory_out(memories[(page - 1) * size: page * size])})

    @extend_schema(tags=TAG, parameters=[s.DeleteAllQuery], responses={200: s.MessageOut, 400: ErrorOut},
                   operation_id="mem0DeleteAll", summary="Delete the memories matching a filter (one required)")
    def delete(self, request, space_id):
        space = self.get_space()
        data = self.query(s.DeleteAllQuery)
        if data.get("filters"):
            data["filters"] = literal_dict(data["filters"], loc=["query", "filters"])
        condition = self.filters_of(data, loc=["query"])
        if not (data.get("filters") or any(data.get(field) for field in ENTITY_FIELDS)):
            raise BadRequest("At least one filter (user_id, agent_id, app_id, run_id or filters) is required; "
                             "use reset to delete every memory of the space.")
        deleted = services.memory_delete_matching(space=space, filters=condition)
        return Response({"message": f"Memories deleted successfully! ({deleted})"})


def literal_dict(text: str, *, loc: list) -> dict:
    """`filters` in a query string: JSON, or the Python-literal dict the mem0 client sends, held to the bounds
    of a JSON body (a literal can hold what JSON cannot, such as sets or bytes)."""
    for parse in (json.loads, ast.literal_eval):
        try:
            value = parse(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):  # TypeError: {[1]: 2}
            continue
        if isinstance(value, dict):
            try:
                check_json(value)
            except ValidationError as exc:
                raise InvalidInput(validation_entries(exc.detail, loc)) from None
            return value
    raise InvalidInput.at(loc, "filters must be a JSON object", "dict_type")


class GetAllView(Mem0View):
    """v2 (mem0ai 1.x) and v3 (2.x) listing: filters in the body, page/page_size in the query or body."""

    @extend_schema(tags=TAG, request=s.GetAllIn, responses={200: s.PageOfMemoriesOut, 400: ErrorOut},
                   parameters=[s.V1GetAllQuery],
                   summary="List memories matching filters, newest first, paginated")
    def post(self, request, space_id):
        return Response(listing_page(self, self.get_space()))


def listing_page(view: Mem0View, space) -> dict:
    """The page of memories `view`'s request asks for: filters in its body, page/page_size in its query or
    body; with the count and the links to the next and previous pages."""
    data = {**view.body(s.GetAllIn), **{k: v for k, v in view.query(s.V1GetAllQuery).items() if v}}
    condition = view.filters_of(data, loc=["body"])
    view.require_entity_filter(data)
    memories = selectors.memory_list(space=space, filters=condition, show_expired=data["show_expired"])
    return paginated(view, memories, *page_of(data), out=lambda items: memory_out(items, data.get("fields")))


def paginated(view: Mem0View, rows: QuerySet, page: int, size: int, *, out) -> dict:
    """Page `page` of `rows`, `size` a page, shaped by `out`; with the count and the links to the next and
    previous pages."""
    count = rows.count()
    last = max(math.ceil(count / size), 1)
    # a page past the last links back to the last one, not to the empty page before it
    return {"count": count, "next": view.page_url(page + 1 if page < last else None, size),
            "previous": view.page_url(min(page - 1, last) if page > 1 else None, size),
            "results": out(rows[(page - 1) * size: page * size])}


class SearchView(Mem0View):
    """v1 (seed), v2 (mem0ai 1.x) and v3 (2.x) search. v2/v3 need an entity id."""

    need_entity = True

    @extend_schema(tags=TAG, request=s.SearchIn, responses={200: s.SearchOut, 400: ErrorOut, 502: ErrorOut},
                   summary="Hybrid search (vector + full text), best first, score 0..1")
    def post(self, request, space_id):
        space = self.get_space()
        data = self.body(s.SearchIn)
        condition = self.filters_of(data, loc=["body"])
        if self.need_entity:
            self.require_entity_filter(data)
        hits = run_search(space, data, condition)
        results = hits_out(hits, data.get("fields"))
        return Response(results if data.get("output_format") == "v1.0" else {"results": results})


class SearchV1View(SearchView):
    need_entity = False


def run_search(space, data: dict, filters: Q):
    return selectors.memory_search(
        space=space, query_vector=services.embed([data["query"]])[0], query=data["query"], filters=filters,
        top_k=data.get("top_k") or data.get("limit") or 10, threshold=data.get("threshold"),
        show_expired=data.get("show_expired", False),
    )


class MemoryDetailView(Mem0View):
    @extend_schema(tags=TAG, responses=NULLABLE_MEMORY, operation_id="mem0Get",
                   summary="Get one memory; null when it does not exist")
    def get(self, request, space_id, memory_id):
        memory = selectors.memory_get(space=self.get_space(), memory_id=self.memory_id())
        return Response(s.MemoryOut(memory).data if memory else None)

    @extend_schema(tags=TAG, request=s.UpdateIn, responses={200: s.MemoryOut, 409: ErrorOut, 502: ErrorOut},
                   operation_id="mem0Update", summary="Update text (re-embedded), metadata, timestamp, expiration")
    def put(self, request, space_id, memory_id):
        space, memory_id = self.get_space(), self.memory_id()
        data = self.body(s.UpdateIn)
        if data.get("timestamp") is not None:
            data["timestamp"] = services.parse_timestamp(data["timestamp"])
        else:
            data.pop("timestamp", None)
        memory = services.memory_update(space=space, memory_id=memory_id, fields=data)
        return Response(s.MemoryOut(memory).data)

    @extend_schema(tags=TAG, responses={200: s.MessageOut}, operation_id="mem0Delete", summary="Delete one memory")
    def delete(self, request, space_id, memory_id):
        services.memory_delete(space=self.get_space(), memory_id=self.memory_id())
        return Response({"message": "Memory deleted successfully!"})


class HistoryView(Mem0View):
    @extend_schema(tags=TAG, parameters=[s.HistoryQuery], responses=s.HistoryOut(many=True),
                   operation_id="mem0History",
                   summary="Every ADD / UPDATE / DELETE of a memory, oldest first (kept after deletion); "
                           "limit keeps the oldest")
    def get(self, request, space_id, memory_id):
        limit = self.query(s.HistoryQuery).get("limit")
        history = selectors.memory_history(space=self.get_space(), memory_id=self.memory_id())
        return Response(s.HistoryOut(history[:limit], many=True).data)


class ResetView(Mem0View):
    @extend_schema(tags=TAG, request=None, responses=s.MessageOut, summary="Delete every memory of this space")
    def post(self, request, space_id):
        deleted = services.space_reset(space=self.get_space())
        return Response({"message": f"Memory space reset: {deleted} memories deleted."})


class EntitiesView(Mem0View):
    @extend_schema(tags=TAG, responses=s.EntitiesOut, operation_id="mem0Entities", parameters=[s.PagesQuery],
                   summary="Users, agents, apps and runs that have memories in this space",
                   description="All of them on one page (what the mem0 client's reset deletes), unless `page` or "
                               "`page_size` asks for pages.")
    def get(self, request, space_id):
        space = self.get_space()
        query = self.query(s.PagesQuery)
        entities = selectors.entity_list(space=space)
        out = partial(entities_out, space)
        if query.get("page") or query.get("page_size"):
            return Response(paginated(self, entities, query.get("page") or 1,
                                      query.get("page_size") or DEFAULT_PAGE_SIZE, out=out))
        results = out(entities)
        return Response({"count": len(results), "next": None, "previous": None, "results": results})


def entities_out(space, entities) -> list[dict]:
    owner = space.owner.get_username()
    return s.EntityOut([{**entity, "id": uuid.uuid5(space.pk, f"{entity['type']}:{entity['name']}"),
                         "metadata": None, "owner": owner} for entity in entities], many=True).data


class EntityDeleteView(Mem0View):
    @extend_schema(tags=TAG, responses={200: s.MessageOut}, operation_id="mem0EntityDelete",
                   summary="Delete every memory of one user / agent / app / run")
    def delete(self, request, space_id, entity_type, name):
        if entity_type not in ENTITY_TYPES:
            raise InvalidInput.at(["path", "entity_type"], "Input should be 'user', 'agent', 'app' or 'run'",
                                  "enum", input=entity_type[:64])
        name = validate(s.EntityNamePath, {"name": name}, loc="path")["name"]
        deleted = services.entity_delete(space=self.get_space(), entity_field=ENTITY_TYPES[entity_type],
                                         name=name)
        return Response({"message": f"Entity deleted successfully. ({deleted} memories)"})


class BatchView(Mem0View):
    @extend_schema(tags=TAG, request=s.BatchUpdateIn, responses={200: s.MessageOut, 409: ErrorOut, 502: ErrorOut},
                   operation_id="mem0BatchUpdate",
                   summary="Update up to 1000 memories, all or nothing")
    def put(self, request, space_id):
        space = self.get_space()
        updates = self.body(s.BatchUpdateIn)["memories"]
        count = services.memory_batch_update(space=space, updates=updates)
        return Response({"message": f"Successfully updated {count} memories"})

    @extend_schema(tags=TAG, request=s.BatchDeleteIn, responses={200: s.MessageOut}, operation_id="mem0BatchDelete",
                   summary="Delete up to 1000 memories, all or nothing")
    def delete(self, request, space_id):
        space = self.get_space()
        ids = [item["memory_id"] for item in self.body(s.BatchDeleteIn)["memories"]]
        count = services.memory_batch_delete(space=space, memory_ids=ids)
        return Response({"message": f"Successfully deleted {count} memories"})


class ExportView(Mem0View):
    @extend_schema(tags=TAG, request=s.ExportIn, responses=s.ExportCreatedOut, operation_id="mem0ExportCreate",
                   summary="Export the memories matching filters in the shape of a JSON schema")
    def post(self, request, space_id):
        space = self.get_space()
        data = self.body(s.ExportIn)
        export = services.export_create(space=space, schema=data["schema"], scope=services.entity_scope(data),
                                        filters=data.get("filters"), condition=self.filters_of(data, loc=["body"]))
        return Response({"message": "Memory export request received. The export is ready.", "id": str(export.pk)})


class ExportGetView(Mem0View):
    @extend_schema(tags=TAG, request=s.ExportGetIn, responses=s.ExportOut, operation_id="mem0ExportGet",
                   summary="The export named by memory_export_id, else the latest of the entity ids given "
                           "(top-level or in filters), else the latest of the space")
    def post(self, request, space_id):
        return Response(export_of(self.get_space(), self.body(s.ExportGetIn)))


def export_of(space, data: dict) -> dict:
    """The export an ExportGetIn names: by id, else the newest of its entity scope, else of the space."""
    scoped = bool(data.get("filters")) or any(data.get(field) for field in ENTITY_FIELDS)
    return services.export_get(space=space, export_id=data.get("memory_export_id") or data.get("id"),
                               scope=services.entity_scope(data) if scoped else None)


@extend_schema_view(
    put=extend_schema(operation_id="mem0BatchUpdateSeed", summary="Update up to 1000 memories (seed 002's path)"),
    delete=extend_schema(operation_id="mem0BatchDeleteSeed",
                         summary="Delete up to 1000 memories (seed 002's path; memory_ids or memories)"),
)
class SeedBatchView(BatchView):
    """Seed 002's batch path, `v1/memories/batch/`, as `v1/batch/`."""


@extend_schema_view(post=extend_schema(operation_id="mem0ExportCreateSeed",
                                       summary="Export the memories matching filters (seed 002's path)"))
class SeedExportView(ExportView):
    """Seed 002's export routes: `POST /v1/memories/export/` creates one (as `POST /v1/exports/`), `GET` with
    the entity ids (or memory_export_id) in the query answers one (as `POST /v1/exports/get/`)."""

    @extend_schema(tags=TAG, parameters=[s.ExportGetQuery], responses=s.ExportOut, operation_id="mem0ExportGetSeed",
                   summary="The export named by memory_export_id, else the latest of the entity ids given, "
                           "else the latest of the space")
    def get(self, request, space_id):
        return Response(export_of(self.get_space(), self.query(s.ExportGetQuery)))


class FeedbackView(Mem0View):
    @extend_schema(tags=TAG, request=s.FeedbackIn, responses=s.FeedbackOut, operation_id="mem0Feedback",
                   summary="Record feedback on a memory")
    def post(self, request, space_id):
        space = self.get_space()
        data = self.body(s.FeedbackIn)
        services.feedback_create(space=space, **data)
        return Response({"message": "Feedback recorded successfully", **{k: str(v) if v else v
                                                                          for k, v in data.items()}})


class AddStatusView(Mem0View):
    @extend_schema(tags=TAG, responses=s.AddRequestOut, operation_id="mem0AddStatus",
                   summary="Status of an add queued with async_mode")
    def get(self, request, space_id, event_id):
        queued = selectors.add_request_get(space=self.get_space(), request_id=self.path_uuid("event_id"))
        if queued is None:
            raise NotFound("Event not found")
        return Response(s.AddRequestOut(queued).data)


# --- mem0's open-source server shape ----------------------------------------------------------------------
OSS = ["mem0 server shape"]


@extend_schema_view(
    delete=extend_schema(tags=OSS, parameters=[s.DeleteAllQuery], responses={200: s.MessageOut, 400: ErrorOut},
                         operation_id="ossDeleteAll", summary="Delete the memories of an entity (one id required)"),
)
class OssMemoriesView(MemoriesV1View):
    @extend_schema(tags=OSS, parameters=[s.V1GetAllQuery], responses={200: s.ResultsOfMemoriesOut, 400: ErrorOut},
                   operation_id="ossList", summary="List memories by entity ids (one of user_id, agent_id, run_id "
                                                   "required)")
    def get(self, request, space_id):
        # as mem0's server did (400) before it made this an admin's dump of the whole store
        return self.list_by_entity_ids(need_entity=True)

    @extend_schema(tags=OSS, request=s.AddIn, responses={200: s.OssAddOut, 400: ErrorOut, 502: ErrorOut},
                   operation_id="ossAdd",
                   summary="Add memories")
    def post(self, request, space_id):
        space = self.get_space()
        results, queued = add_from(self, space, self.body(s.AddIn))
        return Response({"results": results or [], **({"event_id": str(queued.pk)} if queued else {})})


# The routes below behave exactly like their platform twins; only their OpenAPI description differs.
@extend_schema_view(
    # mem0's server answers what `Memory.get` returns: null for a memory it does not hold
    get=extend_schema(tags=OSS, responses=NULLABLE_MEMORY, operation_id="ossGet",
                      summary="Get one memory; null when it does not exist"),
    put=extend_schema(tags=OSS, request=s.UpdateIn, responses={200: s.MemoryOut, 409: ErrorOut, 502: ErrorOut},
                      operation_id="ossUpdate", summary="Update one memory"),
    delete=extend_schema(tags=OSS, responses={200: s.MessageOut}, operation_id="ossDelete",
                         summary="Delete one memory"),
)
class OssMemoryDetailView(MemoryDetailView):
    pass


@extend_schema_view(get=extend_schema(tags=OSS, parameters=[s.HistoryQuery], responses=s.HistoryOut(many=True),
                                      operation_id="ossHistory", summary="History"))
class OssHistoryView(HistoryView):
    pass


@extend_schema_view(post=extend_schema(tags=OSS, request=s.SearchIn, responses={200: s.SearchOut, 502: ErrorOut},
                                       operation_id="ossSearch", summary="Search memories"))
class OssSearchView(SearchV1View):
    pass


@extend_schema_view(post=extend_schema(tags=OSS, request=None, responses=s.MessageOut, operation_id="ossReset",
                                       summary="Delete every memory of this space"))
class OssResetView(ResetView):
    pass


class OssConfigureView(Mem0View):
    @extend_schema(tags=OSS, request=s.ConfigureIn, responses=s.ConfigureOut, operation_id="ossConfigure",
                   summary="Set this space's LLM (model, base URL) and extraction prompt")
    def post(self, request, space_id):
        space = self.get_space()
        data = self.body(s.ConfigureIn)
        space_update(space=space, fields=data["space_fields"], model_loc=("body", "llm", "config", "model"))
        config = (data.get("llm") or {}).get("config") or {}
        ignored = (" API keys are not stored; the server's LLM_API_KEY is sent only to its own LLM endpoint."
                   if config.get("api_key") else "")
        return Response({"message": f"Configuration set successfully.{ignored}", "applied": data["space_fields"]})
