"""Upgrades: a database holding what an older version of the service wrote is migrated to the newest schema
with its rows intact and working. Each test takes the test database back to an app's older migration with
Django's MigrationExecutor, writes rows through that migration's historical models (the schema of that
version), migrates forward again and looks at what arrived."""

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from lifecycle import services as lifecycle
from lifecycle.models import StrategyExecution
from tests.factories import MemorySpaceFactory

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(*targets: tuple[str, str | None]):
    """Migrate the test database to `targets` ((app, migration), or (app, None) for its latest); the apps
    registry of that state, whose models are the historical ones."""
    executor = MigrationExecutor(connection)
    leaves = dict(executor.loader.graph.leaf_nodes())
    plan = [(app, name or leaves[app]) for app, name in targets]
    executor.migrate(plan)
    executor.loader.build_graph()  # what was applied
    return executor.loader.project_state(plan).apps


@pytest.fixture
def latest_schema_after():
    """Whatever a test migrates back to, the database is at every app's latest migration afterwards."""
    yield
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


def test_strategies_of_sessions_made_before_the_lifecycle_sweep_are_scheduled(latest_schema_after):
    """Before sessions_app 0002 a strategy was stored without a due time, and a session without its next count
    thresholds. 0002 added those columns empty, and the sweep reads only them: every strategy written before
    the upgrade, the default 180-day soft delete included, waited for ever."""
    space, gone = MemorySpaceFactory(), MemorySpaceFactory(deleted_at=timezone.now())
    old = migrate(("sessions_app", "0001_initial"))
    Session, Strategy = old.get_model("sessions_app", "Session"), old.get_model("sessions_app", "LifecycleStrategy")
    year_ago, hour_ago = timezone.now() - timedelta(days=365), timezone.now() - timedelta(hours=1)

    def session(strategies, *, space_id=space.pk, **fields):
        made = Session.objects.create(space_id=space_id, participants=["u"], **fields)
        Session.objects.filter(pk=made.pk).update(created_at=year_ago)
        for position, (trigger, threshold) in enumerate(strategies):
            Strategy.objects.create(session=made, position=position, type="soft_delete", trigger=trigger,
                                    threshold=threshold)
        return made.pk

    expired = session([("ttl", 180 * 24 * 3600)])
    counted = session([("eventCount", 3), ("tokenCount", 50), ("eventCount", 10)], event_count=4, token_count=20)
    idle = session([("idle", 7200), ("never", None)], last_event_at=hour_ago)
    deleted = session([("ttl", 60)], deleted_at=hour_ago)
    in_deleted_space = session([("ttl", 60)], space_id=gone.pk)

    new = migrate(("sessions_app", None), ("lifecycle", None))
    Session, Strategy = new.get_model("sessions_app", "Session"), new.get_model("sessions_app", "LifecycleStrategy")
    due = dict(Strategy.objects.values_list("session_id", "due_at").filter(trigger__in=["ttl", "idle"]))
    assert due == {expired: year_ago + timedelta(days=180), idle: hour_ago + timedelta(hours=2),
                   deleted: None, in_deleted_space: None}  # these two are scheduled again when restored
    assert Session.objects.values_list("next_event_trigger", "next_token_trigger").get(pk=counted) == (3, 50)

    lifecycle.sweep()
    fired = StrategyExecution.objects.values_list("session_id", "strategy__trigger", "strategy__threshold")
    assert sorted(fired) == sorted([(expired, "ttl", 180 * 24 * 3600), (counted, "eventCount", 3)])


def test_history_inputs_move_to_one_row_per_distinct_messages_and_back(latest_schema_after):
    """mem0_compat 0007: each history row held its own copy of the add's messages; now rows point to one
    MemoryInput per distinct (space, messages). Rolled back, every row holds its copy again."""
    space, other = MemorySpaceFactory(), MemorySpaceFactory()
    conversation, alone = [{"role": "user", "content": "Likes tea"}], [{"role": "user", "content": "Has a cat"}]
    old = migrate(("mem0_compat", "0006_memory_text_max_length"))
    History = old.get_model("mem0_compat", "MemoryHistory")
    rows = {(space.pk, "ADD", 1): conversation, (space.pk, "ADD", 2): conversation,
            (space.pk, "DELETE", 1): alone, (other.pk, "ADD", 3): conversation, (space.pk, "UPDATE", 2): None}
    made = {key: History.objects.create(space_id=key[0], memory_id=uuid.UUID(int=key[2]), event=key[1],
                                        input=messages).pk for key, messages in rows.items()}

    new = migrate(("mem0_compat", None))
    History, Input = new.get_model("mem0_compat", "MemoryHistory"), new.get_model("mem0_compat", "MemoryInput")
    moved = {key: History.objects.get(pk=pk).source for key, pk in made.items()}
    assert {key: source and source.messages for key, source in moved.items()} == rows
    assert moved[(space.pk, "ADD", 1)] == moved[(space.pk, "ADD", 2)] != moved[(other.pk, "ADD", 3)]
    assert Input.objects.count() == 3

    back = migrate(("mem0_compat", "0006_memory_text_max_length"))
    History = back.get_model("mem0_compat", "MemoryHistory")
    assert {key: History.objects.get(pk=pk).input for key, pk in made.items()} == rows


def test_stored_null_extraction_scopes_keep_the_defaults_they_meant(latest_schema_after):
    """`"userId": null` / `"runId": null` meant the participant / the session before sessions_app 0005, and
    means none since: strategies waiting to fire keep their meaning; fired ones stay as sent."""
    space = MemorySpaceFactory()
    old = migrate(("sessions_app", "0004_schedule_strategies_from_before_0002"))
    Session, Strategy = old.get_model("sessions_app", "Session"), old.get_model("sessions_app", "LifecycleStrategy")
    session = Session.objects.create(space_id=space.pk, participants=["alice"])

    def stored(position, opts, *, fired_at=None, type_="extract_memories"):
        return Strategy.objects.create(session=session, position=position, type=type_, trigger="ttl",
                                       threshold=60, opts=opts, fired_at=fired_at).pk

    waiting = stored(0, {"userId": None, "runId": None, "agentId": "bot", "metadata": {"userId": None}})
    named = stored(1, {"userId": "carol", "runId": "r1"})
    fired = stored(2, {"userId": None}, fired_at=timezone.now())
    deletion = stored(3, {"runId": None}, type_="soft_delete")

    new = migrate(("sessions_app", None))
    opts = dict(new.get_model("sessions_app", "LifecycleStrategy").objects.values_list("pk", "opts"))
    assert opts[waiting] == {"agentId": "bot", "metadata": {"userId": None}}
    assert (opts[named], opts[fired], opts[deletion]) == ({"userId": "carol", "runId": "r1"}, {"userId": None},
                                                          {"runId": None})
