from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lifecycle import services as lifecycle
from sessions_app import admin as sessions_admin
from sessions_app.models import Event, Session
from sessions_app.services import event_append_batch, session_soft_delete
from tests.admin_forms import BrokenHalfway, admin_pages, broken_halfway, change_form_data
from tests.factories import MemorySpaceFactory, make_session

pytestmark = pytest.mark.django_db

STRATEGIES = [
    {"type": "soft_delete", "trigger": {"idle": 3600}, "opts": None},
    {"type": "extract_memories", "trigger": {"eventCount": 20}, "opts": None},
]


changelist, change, run_action = admin_pages("sessions_app")


def append(session, *contents):
    return event_append_batch(session=session, events=[
        {"body": {"content": content}, "emitter": {"type": "user", "id": "u1"}, "event_type": "message"}
        for content in contents
    ])


def test_every_changelist_and_change_page_answers(admin_client, space):
    session = make_session(space, strategies=STRATEGIES)
    event, = append(session, "hi")
    for model_name, pk in {"session": session.pk, "event": event.pk}.items():
        assert admin_client.get(changelist(model_name)).status_code == 200
        assert admin_client.get(change(model_name, pk)).status_code == 200


def test_session_page_shows_strategies_and_only_the_last_50_events(admin_client, space):
    session = make_session(space, strategies=STRATEGIES)
    append(session, *[f"msg-{n:03}" for n in range(60)])
    response = admin_client.get(change("session", session.pk))
    content = response.content.decode()
    assert response.status_code == 200
    assert "extract_memories" in content and "eventCount" in content
    assert "<td>msg-010</td>" in content and "<td>msg-059</td>" in content
    assert "msg-009" not in content
    assert f"?session__id__exact={session.pk}" in content
    all_events = admin_client.get(changelist("event"), {"session__id__exact": session.pk})
    assert "msg-000" in all_events.content.decode()


def test_soft_deleted_session_and_space_pages_answer(admin_client, space):
    session = make_session(space, description="hidden-session")
    append(session, "hi")
    session_soft_delete(session=session)
    space.deleted_at = timezone.now()
    space.save()
    response = admin_client.get(change("session", session.pk))
    assert response.status_code == 200
    assert "hidden-session" in response.content.decode()
    assert admin_client.get(change("event", session.events.get().pk)).status_code == 200


def test_event_page_is_read_only(admin_client, session):
    event, = append(session, "hi")
    response = admin_client.post(change("event", event.pk), {"body": '{"content": "changed"}'})
    event.refresh_from_db()
    assert response.status_code == 403
    assert event.body == {"content": "hi"}


def test_session_search_by_description_participant_and_id(admin_client, space):
    alpha = make_session(space, description="alpha-session", participants=["67500a00000000000000aaaa"])
    make_session(space, description="beta-session", participants=["67500a00000000000000bbbb"])
    for query in ["alpha", "aaaa", str(alpha.id)]:
        content = admin_client.get(changelist("session"), {"q": query}).content
        assert b"alpha-session" in content, query
        assert b"beta-session" not in content, query


def test_event_search_by_content(admin_client, session):
    append(session, "the needle is here", "only hay")
    content = admin_client.get(changelist("event"), {"q": "needle"}).content.decode()
    assert "the needle is here" in content
    assert "only hay" not in content


def test_deleted_filter(admin_client, space):
    live = make_session(space, description="live-session")
    gone = make_session(space, description="gone-session")
    append(live, "live-event", "gone-event")
    Event.objects.filter(session=live, sequence_id=1).update(deleted_at=timezone.now())  # "gone-event"
    session_soft_delete(session=gone)
    for model_name, live_text, gone_text in [("session", "live-session", "gone-session"),
                                             ("event", "live-event", "gone-event")]:
        shown_live = admin_client.get(changelist(model_name), {"deleted": "no"}).content.decode()
        shown_gone = admin_client.get(changelist(model_name), {"deleted": "yes"}).content.decode()
        assert live_text in shown_live and gone_text not in shown_live
        assert gone_text in shown_gone and live_text not in shown_gone


@pytest.mark.parametrize("model_name", ["session", "event"])
def test_changelist_queries_do_not_grow_with_rows(admin_client, model_name):
    def add_session_with_event():
        append(make_session(MemorySpaceFactory()), "hi")

    def queries():
        with CaptureQueriesContext(connection) as context:
            assert admin_client.get(changelist(model_name)).status_code == 200
        return len(context)

    add_session_with_event()
    one = queries()
    add_session_with_event()
    add_session_with_event()
    assert queries() == one


def test_session_soft_delete_and_restore_actions(admin_client, session):
    run_action(admin_client, "session", "soft_delete_selected", [session])
    session.refresh_from_db()
    assert session.deleted_at is not None

    run_action(admin_client, "session", "restore_selected", [session])
    session.refresh_from_db()
    assert session.deleted_at is None


def test_session_restore_refused_when_its_deduplication_key_is_taken(admin_client, space):
    gone = make_session(space, deduplication_key="k")
    session_soft_delete(session=gone)
    make_session(space, deduplication_key="k")
    response = run_action(admin_client, "session", "restore_selected", [gone])
    gone.refresh_from_db()
    assert gone.deleted_at is not None
    assert "deduplication key is in use" in response.content.decode()


def test_event_soft_delete_and_restore_actions_keep_session_counters(admin_client, session):
    kept, event = append(session, "kept", "hi there")
    session.refresh_from_db()
    counters = (session.event_count, session.token_count)

    run_action(admin_client, "event", "soft_delete_selected", [event])
    event.refresh_from_db()
    session.refresh_from_db()
    assert event.deleted_at is not None
    assert (session.event_count, session.token_count) == (1, kept.token_count)

    run_action(admin_client, "event", "restore_selected", [event])
    event.refresh_from_db()
    session.refresh_from_db()
    assert event.deleted_at is None
    assert (session.event_count, session.token_count) == counters


def test_an_event_restored_to_a_count_threshold_has_it_checked(admin_client, space, monkeypatch,
                                                              django_capture_on_commit_callbacks):
    session = make_session(space, strategies=[{"type": "soft_delete", "trigger": {"eventCount": 2}}])
    _, event = append(session, "one", "two")
    run_action(admin_client, "event", "soft_delete_selected", [event])
    checked = []
    monkeypatch.setattr("lifecycle.tasks.publish", lambda task, *args: checked.append((task.name, *args)))
    with django_capture_on_commit_callbacks(execute=True):
        run_action(admin_client, "event", "restore_selected", [event])
    assert checked == [("lifecycle.tasks.check_count_triggers", str(session.pk))]


@pytest.mark.parametrize(("model_name", "action", "broken"), [
    ("session", "soft_delete_selected", "session_soft_delete"),
    ("session", "restore_selected", "session_restore"),
    ("event", "soft_delete_selected", "event_delete"),
    ("event", "restore_selected", "event_restore"),
])
def test_an_action_broken_half_way_changes_nothing(admin_client, space, monkeypatch, model_name, action, broken):
    sessions = [make_session(space) for _ in range(2)]
    for session in sessions:
        append(session, "hi there")
    objs = sessions if model_name == "session" else [session.events.get() for session in sessions]
    if action == "restore_selected":
        for obj in objs:
            run_action(admin_client, model_name, "soft_delete_selected", [obj])
    before = [(row.deleted_at, row.event_count, row.token_count) for row in Session.objects.order_by("pk")]
    events_before = list(Event.objects.order_by("pk").values_list("deleted_at", flat=True))
    monkeypatch.setattr(sessions_admin, broken, broken_halfway(getattr(sessions_admin, broken)))
    with pytest.raises(BrokenHalfway):
        run_action(admin_client, model_name, action, objs)
    assert [(row.deleted_at, row.event_count, row.token_count)
            for row in Session.objects.order_by("pk")] == before
    assert list(Event.objects.order_by("pk").values_list("deleted_at", flat=True)) == events_before


def test_a_session_restore_refused_for_one_restores_none(admin_client, space):
    gone = [make_session(space), make_session(space, deduplication_key="k")]
    for session in gone:
        session_soft_delete(session=session)
    make_session(space, deduplication_key="k")
    response = run_action(admin_client, "session", "restore_selected", gone)
    assert "deduplication key is in use" in response.content.decode()
    assert not Session.objects.alive().filter(pk__in=[session.pk for session in gone]).exists()


def test_restore_ignores_live_rows(admin_client, session):
    append(session, "hi")
    run_action(admin_client, "event", "restore_selected", list(session.events.all()))
    assert Session.objects.get(pk=session.pk).event_count == 1


def test_strategies_are_read_only_in_the_admin(admin_client, space):
    session = make_session(space, strategies=[{"type": "soft_delete", "trigger": {"ttl": 60}}])
    lifecycle.sweep(now=session.created_at + timedelta(seconds=61))  # it fires: the API refuses to change it
    data = change_form_data(admin_client, change("session", session.pk))
    assert "strategies-0-threshold" not in data and data["strategies-TOTAL_FORMS"] == "1"
    data.update({"strategies-0-threshold": "3600", "strategies-TOTAL_FORMS": "2", "strategies-1-position": "1",
                 "strategies-1-type": "soft_delete", "strategies-1-trigger": "ttl", "strategies-1-threshold": "60",
                 "strategies-1-session": str(session.pk), "strategies-1-id": ""})
    assert admin_client.post(change("session", session.pk), data).status_code == 302  # saved, strategies aside
    assert [s.as_wire() for s in session.strategies.all()] == [
        {"type": "soft_delete", "trigger": {"ttl": 60}, "opts": None}]


def test_a_session_cannot_be_moved_to_another_space(admin_client, space):
    session = make_session(space)
    foreign = MemorySpaceFactory()  # of another owner, in another tenant
    data = change_form_data(admin_client, change("session", session.pk))
    assert "space" not in data
    data["space"] = str(foreign.pk)
    assert admin_client.post(change("session", session.pk), data).status_code == 302
    assert Session.objects.get(pk=session.pk).space_id == space.pk


def test_an_admin_edit_bumps_the_version_and_changes_only_what_the_operator_may(admin_client, space):
    session = make_session(space, strategies=[{"type": "soft_delete", "trigger": {"eventCount": 5}}])
    data = change_form_data(admin_client, change("session", session.pk))
    assert not {"next_event_trigger", "next_token_trigger", "next_sequence_id", "event_count", "token_count",
                "last_event_at", "version"} & set(data)
    data.update({"description": "edited by an operator", "next_event_trigger": "", "event_count": "99"})
    assert admin_client.post(change("session", session.pk), data).status_code == 302
    session.refresh_from_db()
    assert (session.description, session.version) == ("edited by an operator", 2)  # If-Match 1 is now a 409
    assert (session.next_event_trigger, session.event_count) == (5, 0)


def test_a_deleted_session_is_only_viewed(admin_client, session):
    session_soft_delete(session=session)
    data = {**change_form_data(admin_client, change("session", session.pk)), "description": "edited"}
    assert admin_client.post(change("session", session.pk), data).status_code == 403
    assert Session.objects.get(pk=session.pk).description != "edited"


def test_an_admin_save_without_changes_keeps_the_version(admin_client, session):
    data = change_form_data(admin_client, change("session", session.pk))
    assert admin_client.post(change("session", session.pk), data).status_code == 302
    assert Session.objects.get(pk=session.pk).version == 1


@pytest.mark.parametrize("metadata", ["[1, 2]", '"a string"', "42"])
def test_session_metadata_that_is_not_an_object_is_a_form_error(admin_client, api, session, metadata):
    """A session's metadata is an object (or null) on the wire: the admin must not store what GET then cannot
    answer."""
    data = {**change_form_data(admin_client, change("session", session.pk)), "metadata": metadata}
    response = admin_client.post(change("session", session.pk), data)
    assert response.status_code == 200 and "must be a JSON object" in response.content.decode()
    answer = api.get(f"/api/v2/memory/{session.space_id}/sessions/{session.pk}/")
    assert answer.status_code == 200 and answer.json()["version"] == 1


def test_a_session_deduplication_key_in_use_is_a_form_error(admin_client, space):
    make_session(space, deduplication_key="ticket-1")
    session = make_session(space)
    data = {**change_form_data(admin_client, change("session", session.pk)), "deduplication_key": "ticket-1"}
    response = admin_client.post(change("session", session.pk), data)
    assert response.status_code == 200 and "already uses this deduplication key" in response.content.decode()
    session.refresh_from_db()
    assert (session.deduplication_key, session.version) == (None, 1)
