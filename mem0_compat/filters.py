"""mem0 platform (v2) filters, compiled into a Django `Q` so they run in SQL.

Grammar (a `filters` object is a *node*)::

    node       := {key: value, ...}            several keys = implicit AND; {} at the top = no filter
    key        := "AND" | "OR" | "NOT" | field
    "AND"/"OR" := [node, ...]                  1..100 nodes
    "NOT"      := [node, ...]                  NOT (n1 AND n2 ...)
    field      := user_id | agent_id | app_id | run_id | created_at | updated_at
                | categories | metadata | keywords | memory_ids
    value      := plain | "*" | {operator: operand, ...}   several operators = all must hold
    operator   := eq | ne | gt | gte | lt | lte | in | nin | contains | icontains

A plain value means `eq` (for `keywords`: `icontains`; for `memory_ids` given as a list: `in`). Nesting is
capped at 10 levels, and a whole filter at 2,000 terms (each operator of a condition, or its plain value,
counts one, plus one per listed value; a metadata condition counts those of each of its keys).

Per field:

- user_id, agent_id, app_id, run_id: eq, ne, in, nin, contains, icontains on strings. `"*"` (also as the
  `eq` operand) means the id is set (not null, not empty); `{"ne": "*"}` means it is not set.
- created_at, updated_at: eq, ne, gt, gte, lt, lte with an ISO 8601 datetime (naive = UTC) or date. A date
  stands for the whole UTC day: `{"lte": "2024-07-31"}` includes that day, `{"gt": "2024-07-31"}` starts the
  next one, `{"eq": "2024-07-31"}` is any time that day (9999-12-31, the calendar's last, has no end). A
  datetime whose UTC time falls outside the years 1 to 9999 is refused.
- categories: a string operand is one category, a list several. eq/contains "a" → has category a;
  contains [a, b] → has all of them; eq [a, b] → exactly that set (order and duplicates ignored);
  in [a, b] → has any of them; nin → has none; ne → not eq. `"*"` (or `{"eq": "*"}`) → has at least one
  category, `{"ne": "*"}` → has none.
- metadata: `{"metadata": {key: condition, ...}}`, one condition per key, all must hold. A condition is a
  JSON value (matched by JSON containment: equality for scalars, "contains these members" for objects and
  arrays), `"*"` (the key is present), or an operator dict, i.e. a dict whose keys are all operators:
  eq / ne (containment), in / nin (any / none of the values), gt / gte / lt / lte (numbers with numbers,
  strings with strings; other stored types never match), contains (substring of a string, or member of an
  array), icontains (case-insensitive substring of a string). `{"metadata": "*"}` → metadata is not empty.
  Operators apply to top-level keys only: one inside a nested object is a 422, not a literal to match.
- keywords: a substring of the memory text; icontains (the default) or contains (case-sensitive).
- memory_ids: a uuid or a list of uuids; eq, ne, in, nin.

`ne`, `nin` and `NOT` are complements: they also match memories where the field or metadata key is absent.
Anything else (an unknown field or operator, a wrong type, a bad date or uuid) raises `InvalidInput` (422)
whose `loc` points at the offending key. Every value reaches the database as a query parameter.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Collection, Iterable
from functools import reduce
from operator import and_, or_

from django.db.models import CharField, F, Func, JSONField, Q, TextField, Value
from django.db.models.functions import Cast
from django.db.models.lookups import (
    Contains,
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    IContains,
    LessThan,
    LessThanOrEqual,
)
from django.utils import dateparse

from config.api.errors import InvalidInput
from mem0_compat.models import ENTITY_FIELDS

FILTER_FIELDS = (
    "user_id", "agent_id", "app_id", "run_id", "created_at", "updated_at",
    "categories", "metadata", "keywords", "memory_ids",
)
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains", "icontains")
LOGICAL_OPERATORS = ("AND", "OR", "NOT")
WILDCARD = "*"

MAX_DEPTH = 10
MAX_CONDITIONS = 100  # per AND / OR / NOT list
MAX_VALUES = 1000  # per in / nin list (a batch of memory ids may be that long)
MAX_TERMS = 2000  # per filter: depth and list caps alone would still allow 100**10 conditions

_COMPARISONS = ("gt", "gte", "lt", "lte")


class TermBudget:
    """The MAX_TERMS terms that filters compiled with it may hold between them: the several filters of one
    request (`filters` and the top-level keys that stand for filters) are one query, so they share one."""

    def __init__(self):
        self.terms = 0

    def spend(self, terms: int, loc: list) -> None:
        self.terms += terms
        if self.terms > MAX_TERMS:
            raise _invalid(loc, f"Filters may hold at most {MAX_TERMS} terms", "too_long")


def compile_filters(filters: dict | None, *, loc: list, budget: TermBudget | None = None) -> Q:
    """The `Q` selecting the memories that `filters` describes (an empty `Q` when there are none); its terms
    are spent from `budget` (a budget of its own when none is given)."""
    if filters is None:
        return Q()
    if not isinstance(filters, dict):
        raise _invalid(loc, "Filters must be an object", "dict_type")
    if not filters:
        return Q()
    return _Compiler(list(loc), budget or TermBudget()).node(filters, list(loc), depth=1)


def _entity_conditions(filters, depth: int = 1):
    """(field, condition) for the entity fields at the top level or inside (nested) top-level ANDs, in order.
    Input that is not valid filters is tolerated: this may run before `compile_filters` validates it."""
    if not isinstance(filters, dict) or depth > MAX_DEPTH:
        return
    for key, value in filters.items():
        if key == "AND" and isinstance(value, list):
            for child in value:
                yield from _entity_conditions(child, depth + 1)
        elif key in ENTITY_FIELDS:
            yield key, value


def entity_ids_in(filters: dict | None) -> dict[str, str]:
    """The entity ids the filters pin by plain equality, at the top level or inside (nested) top-level ANDs.

    `{"AND": [{"user_id": "alice"}, {"agent_id": {"eq": "bot"}}]}` → `{"user_id": "alice", "agent_id":
    "bot"}`. Ids under OR / NOT, wildcards and other operators pin nothing; the first id found for a field wins.
    """
    found: dict[str, str] = {}
    for field, value in _entity_conditions(filters):
        if isinstance(value, dict) and set(value) == {"eq"}:
            value = value["eq"]
        if field not in found and isinstance(value, str) and value and value != WILDCARD:
            found[field] = value
    return found


def constrains_one_of(filters: dict | None, fields: Collection[str], depth: int = 1) -> bool:
    """Whether `filters` holds every memory it selects to a condition (wildcard and operators included) on
    one of `fields`: at the top level, in a condition of an AND, or in every branch of an OR. What "at least
    one of user_id, agent_id or run_id" asks of a search or listing; a NOT constrains nothing (it selects
    everyone else). Input that is not valid filters is tolerated, as in `_entity_conditions`."""
    if not isinstance(filters, dict) or depth > MAX_DEPTH:
        return False
    for key, value in filters.items():
        if key in fields and value not in (None, "", {}):
            return True
        if key in ("AND", "OR") and isinstance(value, list) and value:
            branches = (constrains_one_of(child, fields, depth + 1) for child in value)
            if (any if key == "AND" else all)(branches):
                return True
    return False


class _Compiler:
    """Walks the filter tree; keeps count of the terms so one request cannot build a huge query."""

    def __init__(self, loc: list, budget: TermBudget):
        self.loc = loc
        self.budget = budget

    def node(self, node, loc: list, depth: int) -> Q:
        if depth > MAX_DEPTH:
            raise _invalid(loc, f"Filters may nest at most {MAX_DEPTH} levels deep", "too_long")
        if not isinstance(node, dict):
            raise _invalid(loc, "A filter condition must be an object", "dict_type")
        if not node:
            raise _invalid(loc, "A filter condition must not be empty", "too_short")
        return _all(self.entry(key, value, [*loc, key], depth) for key, value in node.items())

    def entry(self, key, value, loc: list, depth: int) -> Q:
        if key in LOGICAL_OPERATORS:
            return self.logical(key, value, loc, depth)
        compiler = _FIELD_COMPILERS.get(key)
        if compiler is None:
            allowed = ", ".join((*LOGICAL_OPERATORS, *FILTER_FIELDS))
            raise _invalid(loc, f"Unknown filter field {key!r}; use one of {allowed}", "extra_forbidden")
        self.budget.spend(_terms(key, value), self.loc)
        return compiler(key, value, loc)

    def logical(self, key: str, value, loc: list, depth: int) -> Q:
        if not isinstance(value, list):
            raise _invalid(loc, f"{key} takes a list of conditions", "list_type")
        if not value:
            raise _invalid(loc, f"{key} needs at least one condition", "too_short")
        if len(value) > MAX_CONDITIONS:
            raise _invalid(loc, f"{key} takes at most {MAX_CONDITIONS} conditions", "too_long")
        parts = [self.node(child, [*loc, index], depth + 1) for index, child in enumerate(value)]
        if key == "OR":
            return reduce(or_, parts)
        conjunction = reduce(and_, parts)
        return ~conjunction if key == "NOT" else conjunction


def _terms(field: str, value) -> int:
    """How many terms one field condition holds: one per operator (a plain value is one), plus one per listed
    value; a metadata condition, those of each of its keys. Each term becomes a few SQL parameters at most."""

    def length(operand) -> int:
        return len(operand) if isinstance(operand, list) else 0

    if field == "metadata" and isinstance(value, dict):
        return sum(_terms("", condition) for condition in value.values()) or 1
    if isinstance(value, dict) and any(key in OPERATORS for key in value):
        return sum(1 + length(operand) for operand in value.values())
    return 1 + length(value)


# -- operators -----------------------------------------------------------------------------------------------


def _operations(field: str, value, loc: list, allowed: tuple, default: str) -> list[tuple[str, object, list]]:
    """[(operator, operand, loc)] of a field condition: its operator dict, or `default` for a plain value."""
    if not isinstance(value, dict):
        return [(default, value, loc)]
    if not value:
        raise _invalid(loc, f"{field} needs at least one operator", "too_short")
    return [(op, operand, _check_operator(field, op, [*loc, op], allowed)) for op, operand in value.items()]


def _check_operator(field: str, op, loc: list, allowed: tuple) -> list:
    if op not in OPERATORS:
        raise _invalid(loc, f"Unknown operator {op!r}; use one of {', '.join(OPERATORS)}", "extra_forbidden")
    if op not in allowed:
        raise _invalid(loc, f"Operator {op!r} does not apply to {field}; use one of {', '.join(allowed)}")
    return loc


def _combine(field: str, value, loc: list, allowed: tuple, default: str, build: Callable) -> Q:
    """AND of `build(op, operand, loc)` over the operations of one field condition."""
    operations = _operations(field, value, loc, allowed, default)
    return _all(build(op, operand, op_loc) for op, operand, op_loc in operations)


# -- field kinds ---------------------------------------------------------------------------------------------


def _entity(field: str, value, loc: list) -> Q:
    def build(op, operand, op_loc):
        if op in ("in", "nin"):
            q = Q(**{f"{field}__in": _strings(operand, op_loc)})
            return ~q if op == "nin" else q
        text = _string(operand, op_loc)
        if op in ("contains", "icontains"):
            return Q(**{f"{field}__{op}": text})
        q = _is_set(field) if text == WILDCARD else Q(**{field: text})
        return ~q if op == "ne" else q

    return _combine(field, value, loc, ("eq", "ne", "in", "nin", "contains", "icontains"), "eq", build)


def _is_set(field: str) -> Q:
    return Q(**{f"{field}__isnull": False}) & ~Q(**{field: ""})


def _moment(field: str, value, loc: list) -> Q:
    if value == WILDCARD:
        return Q(**{f"{field}__isnull": False})

    def build(op, operand, op_loc):
        moment = _parse_moment(operand, op_loc)
        if isinstance(moment, dt.datetime):  # an instant
            q = Q(**{f"{field}__{'exact' if op in ('eq', 'ne') else op}": moment})
        else:
            q = _on_day(field, op, moment)
        return ~q if op == "ne" else q

    return _combine(field, value, loc, ("eq", "ne", "gt", "gte", "lt", "lte"), "eq", build)


def _on_day(field: str, op: str, day: dt.date) -> Q:
    """`op` (ne as eq, negated by the caller) against the whole UTC day, [start, end)."""
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    if day < dt.date.max:
        end = start + dt.timedelta(days=1)
        before_end, from_end = Q(**{f"{field}__lt": end}), Q(**{f"{field}__gte": end})
    else:  # no datetime follows the calendar's last day: every moment is before its end
        before_end, from_end = Q(**{f"{field}__isnull": False}), Q(pk__in=[])
    from_start = Q(**{f"{field}__gte": start})
    during = from_start & before_end
    return {"eq": during, "ne": during, "gt": from_end, "gte": from_start, "lt": Q(**{f"{field}__lt": start}),
            "lte": before_end}[op]


def _parse_moment(value, loc: list) -> dt.date | dt.datetime:
    """A date (a whole UTC day) or an instant in UTC; naive means UTC. In UTC because PostgreSQL refuses
    offsets Python accepts (beyond +-15:59, such as +23:59)."""
    if not isinstance(value, str):
        raise _invalid(loc, "Expected an ISO 8601 date or datetime string", "datetime_type")
    try:
        # The date first: parse_datetime also reads a bare date, as midnight.
        day = dateparse.parse_date(value)
        moment = None if day else dateparse.parse_datetime(value)
    except ValueError:
        day = moment = None
    if day is not None:
        return day
    if moment is None:
        raise _invalid(loc, f"Invalid date or datetime {value!r}; use ISO 8601 such as 2024-07-31 or "
                            "2024-07-31T12:00:00Z", "datetime_parsing")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    try:
        return moment.astimezone(dt.UTC)
    except OverflowError:
        raise _invalid(loc, f"{value!r} is outside the years 1 to 9999 in UTC", "datetime_parsing") from None


def _categories(field: str, value, loc: list) -> Q:
    if value == WILDCARD:
        return ~Q(categories=[])

    def build(op, operand, op_loc):
        if operand == WILDCARD and op in ("eq", "ne"):  # as for the ids: eq "*" is set, ne "*" is not
            q = ~Q(categories=[])
        elif op in ("in", "nin"):
            q = Q(categories__overlap=_strings(operand, op_loc))
        else:
            wanted = _strings(operand, op_loc) if isinstance(operand, list) else [_string(operand, op_loc)]
            q = Q(categories__contains=wanted)
            if op != "contains" and isinstance(operand, list):
                q &= Q(categories__contained_by=wanted)
        return ~q if op in ("ne", "nin") else q

    return _combine(field, value, loc, ("eq", "ne", "in", "nin", "contains"), "eq", build)


def _metadata(field: str, value, loc: list) -> Q:
    if value == WILDCARD:
        return Q(metadata__isnull=False) & ~Q(metadata={})
    if not isinstance(value, dict):
        raise _invalid(loc, 'metadata takes an object such as {"key": "value"}', "dict_type")
    if not value:
        raise _invalid(loc, "metadata needs at least one key", "too_short")
    for key in value:
        _string(key, [*loc, key])
    return _all(_metadata_key(key, condition, [*loc, key]) for key, condition in value.items())


def _metadata_key(key: str, condition, loc: list) -> Q:
    if not _is_operator_dict(condition, loc):
        _refuse_nested_operators(condition, loc)
        return _metadata_equals(key, condition)

    def build(op, operand, op_loc):
        if op in ("eq", "ne"):
            q = _metadata_equals(key, operand)
        elif op in ("in", "nin"):
            q = _any(_metadata_equals(key, item) for item in _list(operand, op_loc))
        elif op in _COMPARISONS:
            q = _metadata_compare(key, op, operand, op_loc)
        else:
            q = _metadata_contains(key, op, operand, op_loc)
        return ~q if op in ("ne", "nin") else q

    return _combine("metadata", condition, loc, OPERATORS, "eq", build)


def _is_operator_dict(condition, loc: list) -> bool:
    """A dict of operators, as opposed to a JSON object to match; mixing both is refused as ambiguous."""
    if not isinstance(condition, dict) or not condition:
        return False
    operators = [k for k in condition if k in OPERATORS]
    if not operators:
        return False
    for k in condition:
        if k not in OPERATORS:
            raise _invalid([*loc, k], f"Unknown operator {k!r} next to {operators[0]!r}; use one of "
                                      f"{', '.join(OPERATORS)}", "extra_forbidden")
    return True


def _refuse_nested_operators(value, loc: list, depth: int = 0) -> None:
    """Operators apply to top-level metadata keys only. Deeper, `{"a": {"b": {"eq": 1}}}` would be matched as
    an object holding the literal {"eq": 1}, and find nothing without a word: a 422 says so."""
    if not isinstance(value, dict) or depth > MAX_DEPTH:
        return
    if depth and _is_operator_dict(value, loc):
        raise _invalid(loc, "Operators apply to top-level metadata keys only; match a nested value as an "
                            'object, such as {"address": {"city": "Paris"}}', "extra_forbidden")
    for key, item in value.items():
        _refuse_nested_operators(item, [*loc, key], depth + 1)


def _metadata_equals(key: str, operand) -> Q:
    if operand == WILDCARD:
        return Q(metadata__has_key=key)
    # Containment puts the key inside the parameter, so any key (even "a__b" or "0") is plain data.
    return Q(metadata__contains={key: operand})


def _metadata_compare(key: str, op: str, operand, loc: list) -> Q:
    if isinstance(operand, bool) or not isinstance(operand, int | float | str):
        raise _invalid(loc, f"{op} compares a metadata value with a number or a string", "value_error")
    lookup = {"gt": GreaterThan, "gte": GreaterThanOrEqual, "lt": LessThan, "lte": LessThanOrEqual}[op]
    # jsonb orders values of different types too (true > 3), hence the type check.
    json_type = "string" if isinstance(operand, str) else "number"
    return (
        _has_key(key)
        & Q(Exact(Func(_MetadataKey(key), function="jsonb_typeof", output_field=CharField()), json_type))
        & Q(lookup(_MetadataKey(key), Value(operand, output_field=JSONField())))
    )


def _metadata_contains(key: str, op: str, operand, loc: list) -> Q:
    if op == "icontains":
        return _has_key(key) & _string_value(key) & Q(IContains(_MetadataKey(key, as_text=True),
                                                                 _string(operand, loc)))
    q = Q(metadata__contains={key: [operand]})  # an array member
    if isinstance(operand, str):
        q |= _has_key(key) & _string_value(key) & Q(Contains(_MetadataKey(key, as_text=True), operand))
    return q


def _has_key(key: str) -> Q:
    # A field lookup, unlike the expressions it guards, is negated null-safely by Django (NOT ... stays true
    # for memories without metadata or without the key).
    return Q(metadata__has_key=key)


def _string_value(key: str) -> Q:
    return Q(Exact(Func(_MetadataKey(key), function="jsonb_typeof", output_field=CharField()), "string"))


class _MetadataKey(Func):
    """`metadata -> key` (or `->>`). Django's KeyTransform would send a key such as "0" as an array index."""

    template = "(%(expressions)s)"

    def __init__(self, key: str, *, as_text: bool = False):
        self.arg_joiner = " ->> " if as_text else " -> "
        super().__init__(F("metadata"), Cast(Value(key), TextField()),
                         output_field=TextField() if as_text else JSONField())


def _keywords(field: str, value, loc: list) -> Q:
    def build(op, operand, op_loc):
        return Q(**{f"memory__{op}": _string(operand, op_loc)})

    return _combine(field, value, loc, ("contains", "icontains"), "icontains", build)


def _memory_ids(field: str, value, loc: list) -> Q:
    def build(op, operand, op_loc):
        if op in ("in", "nin"):
            q = Q(id__in=[_uuid(item, [*op_loc, i]) for i, item in enumerate(_list(operand, op_loc))])
        else:
            q = Q(id=_uuid(operand, op_loc))
        return ~q if op in ("ne", "nin") else q

    default = "in" if isinstance(value, list) else "eq"
    return _combine(field, value, loc, ("eq", "ne", "in", "nin"), default, build)


_FIELD_COMPILERS: dict[str, Callable[[str, object, list], Q]] = {
    **dict.fromkeys(ENTITY_FIELDS, _entity),
    "created_at": _moment,
    "updated_at": _moment,
    "categories": _categories,
    "metadata": _metadata,
    "keywords": _keywords,
    "memory_ids": _memory_ids,
}


# -- values --------------------------------------------------------------------------------------------------


def _string(value, loc: list) -> str:
    if not isinstance(value, str):
        raise _invalid(loc, f"Expected a string, got {_type_name(value)}", "string_type")
    return value


def _list(value, loc: list) -> list:
    if not isinstance(value, list):
        raise _invalid(loc, f"Expected a list, got {_type_name(value)}", "list_type")
    if len(value) > MAX_VALUES:
        raise _invalid(loc, f"At most {MAX_VALUES} values", "too_long")
    return value


def _strings(value, loc: list) -> list[str]:
    return [_string(item, [*loc, i]) for i, item in enumerate(_list(value, loc))]


def _uuid(value, loc: list) -> uuid.UUID:
    try:
        return uuid.UUID(_string(value, loc))
    except ValueError:
        raise _invalid(loc, f"Invalid memory id {value!r}: expected a UUID", "uuid_parsing") from None


def _type_name(value) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__)


def _all(parts: Iterable[Q]) -> Q:
    return reduce(and_, parts)


def _any(parts: Iterable[Q]) -> Q:
    parts = list(parts)
    # `Q()` would be absorbed by `|`; an empty `in` list must match nothing.
    return reduce(or_, parts) if parts else Q(pk__in=[])


def _invalid(loc: list, msg: str, type_: str = "value_error") -> InvalidInput:
    return InvalidInput.at(loc, msg, type_)
