import datetime as dt

import hypothesis
import numpy as np
import pytest
from django.conf import settings
from django.db.models import Q
from hypothesis import strategies as st

from config.api.errors import InvalidInput
from mem0_compat.filters import (
    FILTER_FIELDS,
    LOGICAL_OPERATORS,
    OPERATORS,
    compile_filters,
    constrains_one_of,
    entity_ids_in,
)
from mem0_compat.models import Memory
from mem0_compat.selectors import memory_search
from tests.factories import MemoryFactory, MemorySpaceFactory, client_with_key, make_api_key

LOC = ["body", "filters"]
INJECTION = "'; DROP TABLE mem0_compat_memory; --"
ALL = ["a1", "a2", "a3", "b1", "n1"]


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


@pytest.fixture
def mems(db):
    """Five memories of one space, by name, and one of another space that matches almost every filter."""
    space = MemorySpaceFactory()
    made = {
        "a1": MemoryFactory(
            space=space, user_id="alice", agent_id="bot", run_id="r1", app_id="app1",
            memory="Deploy the API on Friday", categories=["travel", "food"],
            metadata={"score": 5, "topic": "Travel plans", "tags": ["x", "y"],
                      "nested": {"city": "Paris", "zip": "75"}},
            created_at=at("2024-07-01T10:00:00"), updated_at=at("2024-08-05T09:00:00"),
        ),
        "a2": MemoryFactory(
            space=space, user_id="alice", agent_id=None, run_id="r2", memory="Likes green tea",
            categories=["work"], metadata={"score": 2, "topic": "work"}, created_at=at("2024-07-15T00:00:00"),
        ),
        "a3": MemoryFactory(
            space=space, user_id="alice", agent_id="support", memory="deployment failed at night",
            categories=["travel"], metadata={"score": "high", "flag": True},
            created_at=at("2024-07-31T23:59:59"),
        ),
        "b1": MemoryFactory(
            space=space, user_id="bob", agent_id="bot", app_id="app2", memory="Bob prefers DEPLOY scripts",
            categories=[], metadata=None, created_at=at("2024-08-01T00:00:00"),
        ),
        "n1": MemoryFactory(
            space=space, user_id=None, agent_id="bot", run_id="r1", memory=f"Injection {INJECTION}",
            categories=["food"], metadata={"score": 10, "0": "zero", "a__b": 1},
            created_at=at("2024-06-30T12:00:00"),
        ),
    }
    MemoryFactory(
        space=MemorySpaceFactory(), user_id="alice", agent_id="bot", run_id="r1", app_id="app1",
        memory="Deploy elsewhere", categories=["travel", "food", "work"],
        metadata={"score": 5, "topic": "work", "flag": True}, created_at=at("2024-07-15T00:00:00"),
    )
    made["space"] = space
    return made


def matching(mems, filters) -> list[str]:
    """The memories `filters` selects, as a list finds them (the ORM) and as a search does (its own SQL around
    the compiled WHERE, the parameters bound by the server): the two must agree."""
    names = {m.id: name for name, m in mems.items() if name != "space"}
    compiled = compile_filters(filters, loc=LOC)
    listed = Memory.objects.filter(space=mems["space"]).filter(compiled).values_list("id", flat=True)
    searched = memory_search(space=mems["space"], query_vector=np.zeros(settings.EMBEDDING_DIMENSIONS),
                             query="deploy", filters=compiled, top_k=50)  # every row of a small scope is scored
    found = sorted(names[pk] for pk in listed)
    assert sorted(names[hit.memory.pk] for hit in searched) == found
    return found


def error_of(filters) -> dict:
    with pytest.raises(InvalidInput) as caught:
        compile_filters(filters, loc=LOC)
    [entry] = caught.value.detail
    return entry


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (None, ALL),
        ({}, ALL),
        ({"user_id": "alice"}, ["a1", "a2", "a3"]),
        ({"user_id": "alice", "agent_id": "bot"}, ["a1"]),
        ({"user_id": {"eq": "bob"}}, ["b1"]),
        ({"user_id": {"ne": "alice"}}, ["b1", "n1"]),
        ({"user_id": {"in": ["alice", "bob"]}}, ["a1", "a2", "a3", "b1"]),
        ({"user_id": {"nin": ["alice"]}}, ["b1", "n1"]),
        ({"user_id": {"in": []}}, []),
        ({"user_id": {"nin": []}}, ALL),
        ({"user_id": {"icontains": "LIC"}}, ["a1", "a2", "a3"]),
        ({"user_id": {"contains": "LIC"}}, []),
        ({"user_id": {"contains": "lic"}}, ["a1", "a2", "a3"]),
        ({"agent_id": "*"}, ["a1", "a3", "b1", "n1"]),
        ({"agent_id": {"eq": "*"}}, ["a1", "a3", "b1", "n1"]),
        ({"agent_id": {"ne": "*"}}, ["a2"]),
        ({"user_id": "*"}, ["a1", "a2", "a3", "b1"]),
        ({"run_id": "r1"}, ["a1", "n1"]),
        ({"app_id": {"in": ["app1", "app2"]}}, ["a1", "b1"]),
        ({"agent_id": {"ne": "bot", "in": ["bot", "support"]}}, ["a3"]),
    ],
)
def test_entity_fields(mems, filters, expected):
    assert matching(mems, filters) == expected


def test_wildcard_treats_an_empty_id_as_unset(mems):
    Memory.objects.filter(pk=mems["b1"].pk).update(agent_id="")
    assert matching(mems, {"agent_id": "*"}) == ["a1", "a3", "n1"]
    assert matching(mems, {"agent_id": {"ne": "*"}}) == ["a2", "b1"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"AND": [{"user_id": "alice"}, {"agent_id": {"in": ["bot", "support"]}}]}, ["a1", "a3"]),
        ({"OR": [{"user_id": "bob"}, {"run_id": "r2"}]}, ["a2", "b1"]),
        ({"NOT": [{"user_id": "alice"}]}, ["b1", "n1"]),
        ({"NOT": [{"user_id": "alice"}, {"agent_id": "bot"}]}, ["a2", "a3", "b1", "n1"]),
        ({"user_id": "alice", "OR": [{"run_id": "r1"}, {"run_id": "r2"}]}, ["a1", "a2"]),
        ({"OR": [{"user_id": {"in": []}}, {"agent_id": "support"}]}, ["a3"]),
        ({"NOT": [{"user_id": {"in": []}}]}, ALL),
        ({"NOT": [{"NOT": [{"user_id": "bob"}]}]}, ["b1"]),
        (
            {"OR": [
                {"AND": [{"user_id": "alice"}, {"NOT": [{"categories": {"contains": "travel"}}]}]},
                {"agent_id": "bot", "user_id": {"ne": "alice"}},
            ]},
            ["a2", "b1", "n1"],
        ),
        # NOT is the complement: memories without metadata or without the key are in it.
        ({"NOT": [{"metadata": {"score": {"gte": 3}}}]}, ["a2", "a3", "b1"]),
        ({"NOT": [{"metadata": {"topic": {"icontains": "work"}}}]}, ["a1", "a3", "b1", "n1"]),
    ],
)
def test_logical_operators(mems, filters, expected):
    assert matching(mems, filters) == expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"created_at": {"gte": "2024-07-01", "lte": "2024-07-31"}}, ["a1", "a2", "a3"]),
        ({"created_at": {"gt": "2024-07-31"}}, ["b1"]),
        ({"created_at": {"lt": "2024-07-01"}}, ["n1"]),
        ({"created_at": "2024-07-15"}, ["a2"]),
        ({"created_at": {"eq": "2024-07-31"}}, ["a3"]),
        ({"created_at": {"ne": "2024-07-15"}}, ["a1", "a3", "b1", "n1"]),
        ({"created_at": {"gte": "2024-07-15T00:00:00Z"}}, ["a2", "a3", "b1"]),
        ({"created_at": {"gt": "2024-07-15T00:00:00"}}, ["a3", "b1"]),  # naive means UTC
        ({"created_at": {"lt": "2024-07-15T02:00:00+02:00"}}, ["a1", "n1"]),
        ({"created_at": {"lte": "2024-07-15T02:00:00+02:00"}}, ["a1", "a2", "n1"]),
        ({"created_at": {"eq": "2024-07-01T10:00:00Z"}}, ["a1"]),
        ({"created_at": {"ne": "2024-07-01T10:00:00Z"}}, ["a2", "a3", "b1", "n1"]),
        ({"created_at": "*"}, ALL),
        ({"updated_at": {"gte": "2024-08-02"}}, ["a1"]),
        ({"AND": [{"created_at": {"gte": "2024-07-01"}}, {"user_id": "alice"}]}, ["a1", "a2", "a3"]),
        # Offsets PostgreSQL refuses (beyond 15:59) reach it in UTC: 00:00+23:59 is 00:01 the day before.
        ({"created_at": {"gte": "2024-08-01T00:00:00+23:59"}}, ["a3", "b1"]),
        ({"created_at": {"lt": "2024-07-31T00:01:00-23:59"}}, ["a1", "a2", "a3", "n1"]),
    ],
)
def test_dates(mems, filters, expected):
    assert matching(mems, filters) == expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"created_at": {"eq": "9999-12-31"}}, ["z"]),
        ({"created_at": {"ne": "9999-12-31"}}, ALL),
        ({"created_at": {"lte": "9999-12-31"}}, [*ALL, "z"]),
        ({"created_at": {"gte": "9999-12-31"}}, ["z"]),
        ({"created_at": {"lt": "9999-12-31"}}, ALL),
        ({"created_at": {"gt": "9999-12-31"}}, []),
        ({"NOT": [{"created_at": {"gt": "9999-12-31"}}]}, [*ALL, "z"]),
        ({"NOT": [{"created_at": {"lte": "9999-12-31"}}]}, []),
        ({"created_at": {"gt": "9999-12-30"}}, ["z"]),
    ],
)
def test_the_calendars_last_day_has_no_end(mems, filters, expected):
    """The day after 9999-12-31 cannot be written (it was an OverflowError, a 500): that day is open-ended."""
    mems["z"] = MemoryFactory(space=mems["space"], user_id="zed", created_at=at("9999-12-31T23:59:59"))
    assert matching(mems, filters) == expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"categories": {"contains": "travel"}}, ["a1", "a3"]),
        ({"categories": "travel"}, ["a1", "a3"]),
        ({"categories": {"eq": "travel"}}, ["a1", "a3"]),
        ({"categories": {"contains": ["travel", "food"]}}, ["a1"]),
        ({"categories": {"in": ["work", "food"]}}, ["a1", "a2", "n1"]),
        ({"categories": {"nin": ["travel"]}}, ["a2", "b1", "n1"]),
        ({"categories": ["food", "travel"]}, ["a1"]),  # exactly this set, in any order
        ({"categories": ["travel"]}, ["a3"]),
        ({"categories": {"ne": ["travel"]}}, ["a1", "a2", "b1", "n1"]),
        ({"categories": {"ne": "travel"}}, ["a2", "b1", "n1"]),
        ({"categories": "*"}, ["a1", "a2", "a3", "n1"]),
        ({"categories": {"eq": "*"}}, ["a1", "a2", "a3", "n1"]),
        ({"categories": {"ne": "*"}}, ["b1"]),  # as for the ids: not set
        ({"categories": {"contains": "Travel"}}, []),
    ],
)
def test_categories(mems, filters, expected):
    assert matching(mems, filters) == expected


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"topic": "work"}, ["a2"]),
        ({"nested": {"city": "Paris"}}, ["a1"]),
        ({"nested": {"city": "Lyon"}}, []),
        ({"tags": ["y"]}, ["a1"]),
        ({"flag": True}, ["a3"]),
        ({"score": 5}, ["a1"]),
        ({"score": "5"}, []),  # JSON types are kept: the string "5" is not the number 5
        ({"topic": "work", "score": {"lt": 3}}, ["a2"]),
        ({"score": {"eq": 10}}, ["n1"]),
        ({"score": {"ne": 5}}, ["a2", "a3", "b1", "n1"]),
        ({"score": {"gte": 5}}, ["a1", "n1"]),
        ({"score": {"gt": 2, "lt": 10}}, ["a1"]),
        ({"score": {"lte": 2.5}}, ["a2"]),
        ({"score": {"gte": "a"}}, ["a3"]),  # strings compare with strings only
        ({"flag": {"gte": 0}}, []),  # a boolean is not a number, although jsonb sorts it above them
        ({"score": {"in": [2, 10]}}, ["a2", "n1"]),
        ({"score": {"nin": [2, 10]}}, ["a1", "a3", "b1"]),
        ({"score": {"in": []}}, []),
        ({"flag": "*"}, ["a3"]),
        ({"flag": {"ne": "*"}}, ["a1", "a2", "b1", "n1"]),
        ({"topic": {"icontains": "TRAVEL"}}, ["a1"]),
        ({"topic": {"contains": "Travel"}}, ["a1"]),
        ({"topic": {"contains": "travel"}}, []),
        ({"tags": {"contains": "x"}}, ["a1"]),
        ({"topic": {"icontains": "_"}}, []),  # LIKE wildcards are escaped
        ({"topic": {"icontains": "%"}}, []),
        ({"0": "zero"}, ["n1"]),  # a key that looks like an array index
        ({"0": {"icontains": "ZER"}}, ["n1"]),
        ({"a__b": 1}, ["n1"]),  # a key that looks like a Django lookup path
        ({"a__b": {"gte": 1}}, ["n1"]),
        ({"contains": {"gte": 1}}, []),
    ],
)
def test_metadata(mems, metadata, expected):
    assert matching(mems, {"metadata": metadata}) == expected


def test_metadata_wildcard_means_some_metadata(mems):
    Memory.objects.filter(pk=mems["a2"].pk).update(metadata={})
    assert matching(mems, {"metadata": "*"}) == ["a1", "a3", "n1"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"keywords": "deploy"}, ["a1", "a3", "b1"]),
        ({"keywords": {"icontains": "DEPLOY"}}, ["a1", "a3", "b1"]),
        ({"keywords": {"contains": "deploy"}}, ["a3"]),
        ({"keywords": {"icontains": "%"}}, []),
        ({"keywords": "green tea", "user_id": "alice"}, ["a2"]),
    ],
)
def test_keywords(mems, filters, expected):
    assert matching(mems, filters) == expected


def test_memory_ids(mems):
    a1, a2, b1 = (str(mems[name].id) for name in ("a1", "a2", "b1"))
    elsewhere = str(Memory.objects.exclude(space=mems["space"]).get().id)
    assert matching(mems, {"memory_ids": [a1, b1, elsewhere]}) == ["a1", "b1"]
    assert matching(mems, {"memory_ids": {"in": [a2]}}) == ["a2"]
    assert matching(mems, {"memory_ids": {"nin": [a1, a2]}}) == ["a3", "b1", "n1"]
    assert matching(mems, {"memory_ids": a2}) == ["a2"]
    assert matching(mems, {"memory_ids": {"ne": a2}}) == ["a1", "a3", "b1", "n1"]
    assert matching(mems, {"memory_ids": a2.upper()}) == ["a2"]
    assert matching(mems, {"OR": [{"memory_ids": [a1]}, {"user_id": "bob"}]}) == ["a1", "b1"]


@pytest.mark.parametrize(
    "filters",
    [
        {"user_id": INJECTION},
        {"user_id": {"in": [INJECTION]}},
        {"agent_id": {"icontains": INJECTION + "x"}},
        {"metadata": {INJECTION: "x"}},
        {"metadata": {INJECTION: {"gte": 1}}},
        {"metadata": {"topic": {"icontains": INJECTION}}},
        {"categories": {"in": [INJECTION]}},
    ],
)
def test_hostile_values_are_plain_data(mems, filters):
    assert matching(mems, filters) == []
    assert Memory.objects.count() == 6  # the table is still there


def test_hostile_keyword_matches_literally(mems):
    assert matching(mems, {"keywords": INJECTION}) == ["n1"]
    assert Memory.objects.count() == 6


def test_compiling_runs_no_query(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        q = compile_filters({"AND": [{"user_id": "alice"}, {"metadata": {"score": {"gte": 3}}}]}, loc=LOC)
    assert isinstance(q, Q)


def nested_and(levels: int) -> dict:
    filters = {"user_id": "bob"}
    for _ in range(levels):
        filters = {"AND": [filters]}
    return filters


def test_nesting_up_to_the_cap_is_fine(mems):
    assert matching(mems, nested_and(9)) == ["b1"]
    assert matching(mems, {"OR": [{"user_id": "bob"}] * 100}) == ["b1"]


BAD_UUID = "not-a-uuid"
GOOD_UUID = "9f0b6f1e-2a8d-4f56-9a2c-3c1b1f0a9b7e"


@pytest.mark.parametrize(
    ("filters", "loc", "type_"),
    [
        ("alice", [], "dict_type"),
        (["alice"], [], "dict_type"),
        ({"colour": "red"}, ["colour"], "extra_forbidden"),
        ({"and": [{"user_id": "a"}]}, ["and"], "extra_forbidden"),
        ({"AND": [{"user_id": "a"}, {"colour": "red"}]}, ["AND", 1, "colour"], "extra_forbidden"),
        ({"OR": [{"NOT": [{"user_id": "a", "size": 3}]}]}, ["OR", 0, "NOT", 0, "size"], "extra_forbidden"),
        ({"AND": {"user_id": "a"}}, ["AND"], "list_type"),
        ({"AND": []}, ["AND"], "too_short"),
        ({"OR": [{}]}, ["OR", 0], "too_short"),
        ({"OR": ["alice"]}, ["OR", 0], "dict_type"),
        ({"OR": [{"user_id": "a"}] * 101}, ["OR"], "too_long"),
        (nested_and(10), ["AND", 0] * 10, "too_long"),
        ({"OR": [{"user_id": {"in": ["x"] * 999}}] * 3}, [], "too_long"),
        # each operator of a metadata key is a term: 1,001 keys with two are 2,002
        ({"metadata": {f"k{i}": {"gt": 1, "lt": 9} for i in range(1001)}}, [], "too_long"),
        ({"user_id": {"like": "a"}}, ["user_id", "like"], "extra_forbidden"),
        ({"user_id": {"gt": "a"}}, ["user_id", "gt"], "value_error"),
        ({"user_id": {"in": "alice"}}, ["user_id", "in"], "list_type"),
        ({"user_id": {"in": ["a"] * 1001}}, ["user_id", "in"], "too_long"),
        ({"user_id": {"in": ["a", 3]}}, ["user_id", "in", 1], "string_type"),
        ({"user_id": 42}, ["user_id"], "string_type"),
        ({"user_id": None}, ["user_id"], "string_type"),
        ({"agent_id": ["bot"]}, ["agent_id"], "string_type"),
        ({"user_id": {}}, ["user_id"], "too_short"),
        ({"created_at": {"gte": "yesterday"}}, ["created_at", "gte"], "datetime_parsing"),
        ({"created_at": {"gte": "2024-02-30"}}, ["created_at", "gte"], "datetime_parsing"),
        ({"AND": [{"updated_at": "2024-13-01T00:00:00Z"}]}, ["AND", 0, "updated_at"], "datetime_parsing"),
        ({"created_at": {"gte": 1720000000}}, ["created_at", "gte"], "datetime_type"),
        ({"created_at": {"lt": "9999-12-31T23:00:00-05:00"}}, ["created_at", "lt"], "datetime_parsing"),
        ({"created_at": {"gt": "0001-01-01T00:00:00+05:00"}}, ["created_at", "gt"], "datetime_parsing"),
        ({"created_at": {"in": ["2024-01-01"]}}, ["created_at", "in"], "value_error"),
        ({"categories": {"icontains": "tr"}}, ["categories", "icontains"], "value_error"),
        ({"categories": {"in": "travel"}}, ["categories", "in"], "list_type"),
        ({"categories": {"contains": 3}}, ["categories", "contains"], "string_type"),
        ({"metadata": "travel"}, ["metadata"], "dict_type"),
        ({"metadata": {}}, ["metadata"], "too_short"),
        ({"metadata": {"score": {"gte": 3, "max": 5}}}, ["metadata", "score", "max"], "extra_forbidden"),
        ({"metadata": {"score": {"gte": [3]}}}, ["metadata", "score", "gte"], "value_error"),
        ({"metadata": {"score": {"gte": True}}}, ["metadata", "score", "gte"], "value_error"),
        ({"metadata": {"score": {"in": 3}}}, ["metadata", "score", "in"], "list_type"),
        ({"metadata": {"topic": {"icontains": 3}}}, ["metadata", "topic", "icontains"], "string_type"),
        # operators inside a nested object would be matched as a literal {"eq": …}, finding nothing
        ({"metadata": {"address": {"city": {"eq": "Paris"}}}}, ["metadata", "address", "city"], "extra_forbidden"),
        ({"metadata": {"a": {"b": {"c": {"in": [1]}}}}}, ["metadata", "a", "b", "c"], "extra_forbidden"),
        ({"keywords": {"eq": "x"}}, ["keywords", "eq"], "value_error"),
        ({"keywords": ["x"]}, ["keywords"], "string_type"),
        ({"memory_ids": [BAD_UUID]}, ["memory_ids", 0], "uuid_parsing"),
        ({"memory_ids": {"in": [GOOD_UUID, BAD_UUID]}}, ["memory_ids", "in", 1], "uuid_parsing"),
        ({"memory_ids": {"eq": 7}}, ["memory_ids", "eq"], "string_type"),
        ({"memory_ids": {"gt": GOOD_UUID}}, ["memory_ids", "gt"], "value_error"),
    ],
)
def test_invalid_filters_are_422_at_the_offending_key(filters, loc, type_):
    entry = error_of(filters)
    assert entry["loc"] == [*LOC, *loc]
    assert entry["type"] == type_
    assert entry["msg"]


def test_invalid_input_is_a_422():
    with pytest.raises(InvalidInput) as caught:
        compile_filters({"user_id": {"between": [1, 2]}}, loc=LOC)
    assert caught.value.status_code == 422
    assert "between" in caught.value.detail[0]["msg"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (None, {}),
        ({}, {}),
        ("garbage", {}),
        ({"user_id": "alice", "agent_id": "bot"}, {"user_id": "alice", "agent_id": "bot"}),
        ({"app_id": "app1", "metadata": {"user_id": "x"}}, {"app_id": "app1"}),
        (
            {"AND": [{"user_id": "alice"}, {"AND": [{"run_id": {"eq": "r1"}}]}, {"agent_id": {"ne": "b"}}]},
            {"user_id": "alice", "run_id": "r1"},
        ),
        ({"OR": [{"user_id": "alice"}]}, {}),
        ({"NOT": [{"user_id": "alice"}]}, {}),
        ({"AND": [{"OR": [{"user_id": "alice"}, {"user_id": "bob"}]}]}, {}),
        ({"user_id": "*"}, {}),
        ({"user_id": ""}, {}),
        ({"user_id": {"in": ["alice"]}}, {}),
        ({"user_id": {"eq": "alice", "ne": "bob"}}, {}),
        ({"AND": "garbage", "run_id": 3}, {}),
        ({"user_id": "alice", "AND": [{"user_id": "bob"}]}, {"user_id": "alice"}),
    ],
)
def test_entity_ids_in(filters, expected):
    assert entity_ids_in(filters) == expected


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (None, False),
        ({}, False),
        ("garbage", False),
        ({"user_id": "alice"}, True),
        ({"agent_id": {"ne": "bot"}}, True),
        ({"user_id": "*"}, True),
        ({"app_id": "app1"}, False),
        ({"user_id": ""}, False),
        ({"user_id": {}}, False),
        ({"AND": [{"app_id": "app1"}, {"AND": [{"run_id": "r1"}]}]}, True),
        ({"OR": [{"user_id": "alice"}, {"user_id": "bob"}]}, True),
        ({"OR": [{"user_id": "alice"}, {"agent_id": "bot", "app_id": "app1"}]}, True),
        ({"OR": [{"AND": [{"run_id": "r1"}]}, {"OR": [{"user_id": "a"}, {"agent_id": "b"}]}]}, True),
        ({"OR": [{"user_id": "alice"}, {"app_id": "app1"}]}, False),
        ({"OR": [{"user_id": "alice"}, {"NOT": [{"user_id": "bob"}]}]}, False),
        ({"OR": []}, False),
        ({"NOT": [{"user_id": "alice"}]}, False),
        ({"AND": [{"OR": [{"user_id": "alice"}, {"user_id": "bob"}]}, {"app_id": "app1"}]}, True),
    ],
)
def test_constrains_one_of_the_needed_entity_fields(filters, expected):
    assert constrains_one_of(filters, ("user_id", "agent_id", "run_id")) is expected


# -- random filters --------------------------------------------------------------------------------------------
# Filters drawn from the grammar (hypothesis), over values the five memories have and some they do not, checked
# against `holds`: the grammar's meaning written again in plain Python, one memory at a time. Dates and
# memory_ids are left to the cases above. Then filters that break the grammar: never a 500.

ENTITY_VALUES = {"user_id": ["alice", "bob", "carol"], "agent_id": ["bot", "support"],
                 "run_id": ["r1", "r2"], "app_id": ["app1", "app2"]}
CATEGORIES = ["travel", "food", "work", "music"]
METADATA_VALUES = {"score": [2, 5, 10, 2.5, "high", "5"], "topic": ["work", "Travel plans", "TRAVEL", "trav"],
                   "flag": [True, False, 1], "0": ["zero", "ZER"], "missing": ["x", 1]}
WORDS = ["deploy", "DEPLOY", "tea", "night", "Bob", "zzz"]


def _operator(ops: list[str], operands) -> st.SearchStrategy:
    """`{op: operand}`: one of `ops`, with an operand drawn from `operands`."""
    return st.builds(lambda op, operand: {op: operand}, st.sampled_from(ops), operands)


def _entity_leaf():
    return st.sampled_from(sorted(ENTITY_VALUES)).flatmap(lambda field: st.fixed_dictionaries(
        {field: st.one_of(
            st.sampled_from(ENTITY_VALUES[field]), st.just("*"),
            _operator(["eq", "ne", "contains", "icontains"],
                      st.sampled_from([*ENTITY_VALUES[field], "*", "LIC", "o"])),
            _operator(["in", "nin"], st.lists(st.sampled_from(ENTITY_VALUES[field]), max_size=3)))}))


def _category_leaf():
    one, several = st.sampled_from(CATEGORIES), st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=3)
    return st.fixed_dictionaries({"categories": st.one_of(
        one, several, st.just("*"), _operator(["eq", "ne", "contains"], one | several),
        _operator(["in", "nin"], several))})


def _metadata_leaf():
    def condition(key):
        value = st.sampled_from(METADATA_VALUES[key])
        return st.one_of(
            value, st.just("*"), st.just({"ne": "*"}), _operator(["eq", "ne"], value),
            _operator(["gt", "gte", "lt", "lte"], value.filter(lambda v: not isinstance(v, bool))),  # bool: a 422
            _operator(["in", "nin"], st.lists(value, max_size=3)),
            _operator(["contains", "icontains"], st.sampled_from(["ork", "Trav", "TRAV", "z", "x"])))
    keys = st.lists(st.sampled_from(sorted(METADATA_VALUES)), min_size=1, max_size=2, unique=True)
    return keys.flatmap(lambda chosen: st.fixed_dictionaries(
        {"metadata": st.fixed_dictionaries({key: condition(key) for key in chosen})}))


def _keywords_leaf():
    word = st.sampled_from(WORDS)
    return st.fixed_dictionaries({"keywords": word | _operator(["contains", "icontains"], word)})


LEAVES = st.one_of(_entity_leaf(), _category_leaf(), _metadata_leaf(), _keywords_leaf())
FILTERS = st.recursive(
    LEAVES,
    lambda nodes: st.one_of(
        _operator(["AND", "OR", "NOT"], st.lists(nodes, min_size=1, max_size=3)),
        st.lists(nodes, min_size=2, max_size=3).map(lambda parts: {k: v for part in parts for k, v in part.items()}),
    ),
    max_leaves=6,
)


def _is_number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same_json(a, b) -> bool:
    """JSON equality: numbers by value (2 and 2.0 alike), anything else only within its own type."""
    if _is_number(a) and _is_number(b):
        return a == b
    return type(a) is type(b) and a == b


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def _entity_holds(stored, condition) -> bool:
    is_set = stored not in (None, "")

    def equal(value):
        return is_set if value == "*" else stored == value
    if not isinstance(condition, dict):
        return equal(condition)
    tests = {"eq": equal, "ne": lambda v: not equal(v),
             "in": lambda vs: stored in vs, "nin": lambda vs: stored not in vs,
             "contains": lambda v: stored is not None and v in stored,
             "icontains": lambda v: stored is not None and v.lower() in stored.lower()}
    return all(tests[op](operand) for op, operand in condition.items())


def _categories_hold(stored: list, condition) -> bool:
    def exactly(value):
        return set(value) == set(stored) if isinstance(value, list) else value in stored
    if not isinstance(condition, dict):
        return bool(stored) if condition == "*" else exactly(condition)
    tests = {"eq": exactly, "ne": lambda v: not exactly(v), "contains": lambda v: set(_as_list(v)) <= set(stored),
             "in": lambda v: bool(set(_as_list(v)) & set(stored)), "nin": lambda v: not set(_as_list(v)) & set(stored)}
    return all(tests[op](operand) for op, operand in condition.items())


def _metadata_key_holds(metadata: dict | None, key: str, condition) -> bool:
    present = metadata is not None and key in metadata
    stored = metadata.get(key) if present else None

    def equal(value):
        return present and _same_json(stored, value)

    def matches(value):
        return present if value == "*" else equal(value)

    def compare(op, v):
        comparable = (_is_number(stored) and _is_number(v)) or (isinstance(stored, str) and isinstance(v, str))
        return present and comparable and {"gt": stored > v, "gte": stored >= v, "lt": stored < v,
                                          "lte": stored <= v}[op]
    if not isinstance(condition, dict):
        return matches(condition)
    tests = {"eq": matches, "ne": lambda v: not matches(v),
             "in": lambda vs: any(equal(v) for v in vs), "nin": lambda vs: not any(equal(v) for v in vs),
             "contains": lambda v: present and ((isinstance(stored, str) and v in stored)
                                                or (isinstance(stored, list) and v in stored)),
             "icontains": lambda v: present and isinstance(stored, str) and v.lower() in stored.lower()}
    return all(compare(op, v) if op in ("gt", "gte", "lt", "lte") else tests[op](v) for op, v in condition.items())


def holds(memory: Memory, node: dict) -> bool:
    """Whether `memory` meets the filter `node`, by the grammar in mem0_compat/filters.py's docstring."""
    def key_holds(key, value):
        if key in ("AND", "OR", "NOT"):
            results = [holds(memory, child) for child in value]
            return {"AND": all(results), "OR": any(results), "NOT": not all(results)}[key]
        if key in ENTITY_VALUES:
            return _entity_holds(getattr(memory, key), value)
        if key == "categories":
            return _categories_hold(memory.categories, value)
        if key == "metadata":
            return all(_metadata_key_holds(memory.metadata, k, v) for k, v in value.items())
        text = memory.memory
        if isinstance(value, dict):
            return all(v in text if op == "contains" else v.lower() in text.lower() for op, v in value.items())
        return value.lower() in text.lower()
    return all(key_holds(key, value) for key, value in node.items())


def selected(mems, filters) -> list[str]:
    """The names of the memories that `holds` says `filters` selects."""
    return sorted(name for name, memory in mems.items() if name != "space" and holds(memory, filters))


# The fixture's memories are only read: every example may share them.
RANDOM = {"deadline": None, "derandomize": True,
          "suppress_health_check": [hypothesis.HealthCheck.function_scoped_fixture]}


@hypothesis.settings(max_examples=300, **RANDOM)
@hypothesis.given(filters=FILTERS)
def test_random_filters_select_what_the_grammar_says(mems, filters):
    expected = selected(mems, filters)
    hypothesis.event(f"{len(expected)} of 5 selected")
    assert matching(mems, filters) == expected


GRAMMAR_WORDS = [*LOGICAL_OPERATORS, *FILTER_FIELDS, *OPERATORS, "*"]
JSON = st.recursive(  # JSON has neither NaN nor infinities
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8)
    | st.sampled_from(GRAMMAR_WORDS),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(GRAMMAR_WORDS) | st.text(max_size=5),
                                                                 inner, max_size=3),
    max_leaves=8,
)


@pytest.fixture
def mems_api(mems):
    return client_with_key(make_api_key(mems["space"].owner))


@hypothesis.settings(max_examples=150, **RANDOM)
@hypothesis.given(filters=FILTERS | JSON)
def test_any_filters_over_http_answer_200_or_422_never_500(mems, mems_api, filters):
    """Drawn from the grammar (then a list answers what `holds` says) or any JSON with the grammar's words in it
    (a 422 that names where, unless it happens to be valid). v3 wants a condition on an entity id: one that
    every memory meets is ANDed in front."""
    base = f"/api/v2/memory/{mems['space'].pk}/v3/memories/"
    every = {"AND": [{"user_id": {"nin": []}}, filters]}
    listed = mems_api.post(base, {"filters": every, "page_size": 50}, format="json")
    found = mems_api.post(base + "search/", {"query": "deploy", "filters": every, "top_k": 50}, format="json")
    assert listed.status_code == found.status_code, (listed.content, found.content)
    assert listed.status_code in (200, 422), listed.content
    hypothesis.event(f"answered {listed.status_code}")  # --hypothesis-show-statistics: how many of each
    if listed.status_code == 422:
        assert listed.json()["detail"][0]["loc"][:2] == ["body", "filters"]
        return
    names = {str(memory.id): name for name, memory in mems.items() if name != "space"}
    expected = selected(mems, filters)
    assert sorted(names[item["id"]] for item in listed.json()["results"]) == expected
    assert sorted(names[hit["id"]] for hit in found.json()["results"]) == expected


# The kind of term that costs the most SQL parameters (6): a metadata substring.
COSTLIEST_TERM = {"contains": "x"}


def test_the_largest_filter_searched_by_its_legs_answers_200(mems_api, mems, settings):
    """A search over a large scope repeats the filter's WHERE in each of its legs, its parameters bound by the
    server: 2,000 terms of the costliest kind stay within PostgreSQL's 65,535 parameters."""
    settings.SEARCH_EXACT_MAX_ROWS = 0
    filters = {"AND": [{"user_id": "*"}, {"metadata": {f"k{i}": COSTLIEST_TERM for i in range(1999)}}]}
    found = mems_api.post(f"/api/v2/memory/{mems['space'].pk}/v3/memories/search/",
                          {"query": "deploy the api", "filters": filters}, format="json")
    assert found.status_code == 200, found.content
    assert found.json() == {"results": []}


def test_operators_of_metadata_keys_count_against_the_filter_cap_over_http(mems_api, mems, settings):
    """Eight operators under each of 1,990 keys: 15,920 terms, which a search used to send as 65,000
    parameters (a 503 "the database does not answer"), and a listing ran for half a minute."""
    settings.SEARCH_EXACT_MAX_ROWS = 0
    ops = {"gt": 1, "gte": 1, "lt": 2, "lte": 2, "contains": "x", "icontains": "y", "ne": 3, "eq": 4}
    filters = {"AND": [{"user_id": "*"}, {"metadata": {f"k{i}": ops for i in range(1990)}}]}
    base = f"/api/v2/memory/{mems['space'].pk}/v3/memories/"
    for answer in (mems_api.post(base + "search/", {"query": "deploy", "filters": filters}, format="json"),
                   mems_api.post(base, {"filters": filters}, format="json")):
        assert answer.status_code == 422, answer.content
        assert answer.json()["detail"] == [{"loc": ["body", "filters"], "type": "too_long",
                                            "msg": "Filters may hold at most 2000 terms"}]


def test_filters_and_top_level_metadata_share_the_filter_cap(mems_api, mems, settings):
    """`filters` and the top-level `metadata` are ANDed into one query: 1,500 terms each used to pass as two
    filters under the cap, and a search sent them as 90,000 parameters (a 503)."""
    settings.SEARCH_EXACT_MAX_ROWS = 0
    half = {f"k{i}": COSTLIEST_TERM for i in range(1500)}
    found = mems_api.post(f"/api/v2/memory/{mems['space'].pk}/v3/memories/search/",
                          {"query": "deploy", "filters": {"AND": [{"user_id": "*"}, {"metadata": half}]},
                           "metadata": half}, format="json")
    assert found.status_code == 422, found.content
    assert found.json()["detail"] == [{"loc": ["body"], "type": "too_long",
                                       "msg": "Filters may hold at most 2000 terms"}]
