"""Writers at once: the same text added twice (a client retrying an add), or added while an operator restores
a deleted copy, is live once; batches over the same memories, named in opposite orders, both lock in id order,
so neither deadlocks, nor do the admin's restore and soft-delete actions, which lock in the same orders; an
inferred UPDATE or DELETE is not applied to a memory another writer changed after the decision read it."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from django.db import connection, connections, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.api.errors import NotFound
from mem0_compat import admin as memory_admin
from mem0_compat import services
from mem0_compat.extraction import Decision
from mem0_compat.models import Memory, MemoryHistory
from mem0_compat.services import memory_add, memory_delete

MEMORIES = 40
ROUNDS = 10
TRIES = 20


@pytest.mark.django_db(transaction=True)
def test_one_text_added_twice_at_once_is_stored_once(space):
    stored = {}

    def add_at_once(barrier: threading.Barrier, text: str, slot: int) -> None:
        barrier.wait()
        try:
            stored[slot] = memory_add(space=space, messages=[{"role": "user", "content": text}],
                                      scope={"user_id": "alice"}, infer=False)
        finally:
            connections.close_all()

    for attempt in range(TRIES):
        text, barrier = f"Retried add number {attempt}", threading.Barrier(2)
        threads = [threading.Thread(target=add_at_once, args=(barrier, text, slot)) for slot in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(len(stored[slot]) for slot in range(2)) == [0, 1], text  # one ADD, one duplicate
        assert Memory.objects.alive().filter(space=space, memory=text).count() == 1
        assert MemoryHistory.objects.filter(space=space, new_memory=text, event="ADD").count() == 1


def test_batch_updates_naming_the_same_memories_in_opposite_orders_both_succeed(live_server, api_key, space):
    added = memory_add(space=space, messages=[{"role": "user", "content": f"fact {n}"} for n in range(MEMORIES)],
                       scope={"user_id": "alice"}, infer=False)
    ids = [result["id"] for result in added]
    url = f"{live_server.url}/api/v2/memory/{space.id}/v1/batch/"

    def writer(number: int) -> list[int]:
        order = ids if number == 0 else ids[::-1]
        with requests.Session() as http:
            http.headers["Authorization"] = f"Token {api_key}"
            return [http.put(url, json={"memories": [{"memory_id": i, "metadata": {"writer": number, "round": r}}
                                                     for i in order]}, timeout=60).status_code
                    for r in range(ROUNDS)]

    with ThreadPoolExecutor(2) as pool:
        statuses = [status for answers in pool.map(writer, range(2)) for status in answers]

    assert statuses == [200] * (2 * ROUNDS)
    assert MemoryHistory.objects.filter(space=space, event="UPDATE").count() == 2 * ROUNDS * MEMORIES
    last = {(memory.metadata["writer"], memory.metadata["round"]) for memory in Memory.objects.filter(pk__in=ids)}
    assert len(last) == 1 and next(iter(last))[1] == ROUNDS - 1  # one batch wrote last, and wrote every row


def add_committed_late(space, text: str, *, added: threading.Event, then: threading.Event) -> None:
    """Add `text` for alice and hold the transaction open until `then` is set, and half a second more: the
    other thread's write runs meanwhile (or waits for this commit)."""
    try:
        with transaction.atomic():
            memory_add(space=space, messages=[{"role": "user", "content": text}], scope={"user_id": "alice"},
                       infer=False)
            added.set()
            then.wait(timeout=10)
            time.sleep(0.5)
    finally:
        connections.close_all()


def run_at_once(*targets) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.django_db(transaction=True)
def test_a_restore_and_an_add_of_the_same_text_at_once_leave_one_live_copy(space, admin_user):
    """An add of the text is written, not yet committed, when the admin restores a deleted memory of the same
    text and scope: the restore waits for the add, then finds the text live and refuses. It used to see no
    live copy, restore it, and leave two once the add committed."""
    (result,) = memory_add(space=space, messages=[{"role": "user", "content": "Likes hiking"}],
                           scope={"user_id": "alice"}, infer=False)
    memory_delete(space=space, memory_id=result["id"])
    added, restoring = threading.Event(), threading.Event()

    def restore() -> None:
        client = Client()
        client.force_login(admin_user)
        try:
            added.wait(timeout=10)
            restoring.set()
            client.post(reverse("admin:mem0_compat_memory_changelist"),
                        {"action": "restore_selected", "_selected_action": [result["id"]]})
        finally:
            connections.close_all()

    run_at_once(lambda: add_committed_late(space, "Likes hiking", added=added, then=restoring), restore)
    assert Memory.objects.alive().filter(space=space, memory="Likes hiking").count() == 1
    assert Memory.objects.get(pk=result["id"]).deleted_at is not None
    assert not MemoryHistory.objects.filter(metadata={"restored": True}).exists()


@pytest.mark.django_db(transaction=True)
def test_an_inferred_update_and_an_add_of_its_new_text_at_once_leave_one_live_copy(space, monkeypatch):
    """An add of "Lives in Lyon" is written, not yet committed, when an inferred add decides to UPDATE "Lives in
    Paris" to that text in the same scope: the update waits for the add, then finds the text held and deletes
    the outdated memory instead (as it does when the text is already stored). It used to update it, and the
    scope held "Lives in Lyon" twice once both had committed."""
    (paris,) = memory_add(space=space, messages=[{"role": "user", "content": "Lives in Paris"}],
                          scope={"user_id": "alice"}, infer=False)
    monkeypatch.setattr(services, "_decide", lambda **kwargs: [
        Decision(event="UPDATE", text="Lives in Lyon", memory_id=paris["id"], old_text="Lives in Paris")])
    added, updating, results = threading.Event(), threading.Event(), {}

    def inferred_update() -> None:
        try:
            added.wait(timeout=10)
            updating.set()
            results["update"] = memory_add(space=space, messages=[{"role": "user", "content": "I moved to Lyon"}],
                                           scope={"user_id": "alice"})
        finally:
            connections.close_all()

    run_at_once(lambda: add_committed_late(space, "Lives in Lyon", added=added, then=updating), inferred_update)
    assert Memory.objects.alive().filter(space=space, memory="Lives in Lyon").count() == 1
    assert [result["event"] for result in results["update"]] == ["DELETE"]


def test_updates_and_deletes_of_the_same_memories_at_once_keep_one_consistent_history(live_server, api_key, space):
    """A batch update, a batch delete and a delete_all over the same memories at once: each memory is deleted
    once (one DELETE row), a write that comes second finds them gone (404, or 0 deleted) and changes nothing,
    and every DELETE records the text the memory had when it went."""
    root = f"{live_server.url}/api/v2/memory/{space.id}/"

    def call(barrier: threading.Barrier, method: str, path: str, body=None) -> int:
        with requests.Session() as http:
            http.headers["Authorization"] = f"Token {api_key}"
            barrier.wait()
            return http.request(method, root + path, json=body, timeout=60).status_code

    for round_ in range(ROUNDS):
        added = memory_add(space=space, messages=[{"role": "user", "content": f"round {round_} fact {n}"}
                                                  for n in range(MEMORIES)], scope={"user_id": "alice"}, infer=False)
        ids = [result["id"] for result in added]
        barrier = threading.Barrier(3)
        writes = [("PUT", "v1/batch/", {"memories": [{"memory_id": i, "text": f"{i} updated"} for i in ids[::-1]]}),
                  ("DELETE", "v1/batch/", {"memories": [{"memory_id": i} for i in ids]}),
                  ("DELETE", "v1/memories/?user_id=alice", None)]
        with ThreadPoolExecutor(3) as pool:
            statuses = list(pool.map(lambda write, barrier=barrier: call(barrier, *write), writes))
        assert statuses[0] in (200, 404) and statuses[1] in (200, 404) and statuses[2] == 200
        history = MemoryHistory.objects.filter(memory_id__in=ids)
        deletes = {str(row.memory_id): row.old_memory for row in history.filter(event="DELETE")}
        texts = {str(memory.pk): memory.memory for memory in Memory.objects.filter(pk__in=ids)}
        assert deletes == texts and all(memory.deleted_at for memory in Memory.objects.filter(pk__in=ids))
        assert history.filter(event="UPDATE").count() == (MEMORIES if statuses[0] == 200 else 0)


def add(space, text: str) -> list[dict]:
    """An inferred add of `text`, said by alice (the offline extractor decides)."""
    return memory_add(space=space, messages=[{"role": "user", "content": text}], scope={"user_id": "alice"})


def deciding_then(competitor):
    """`services._decide`, after which, the first time, `competitor` runs to its commit in another thread: a
    writer landing between an add's reading of the scope for its decision and its locking of the rows."""
    decide, raced = services._decide, []

    def decide_then_race(**kwargs):
        decisions = decide(**kwargs)
        if not raced:
            raced.append(True)
            run_at_once(lambda: closing_connections(competitor))
        return decisions

    return decide_then_race


def closing_connections(write) -> None:
    try:
        write()
    finally:
        connections.close_all()


@pytest.mark.django_db(transaction=True)
def test_an_inferred_delete_leaves_alone_a_memory_another_add_updated_since_the_decision(space, monkeypatch):
    """"I no longer live in Paris" decides to DELETE "Lives in Paris"; before it is applied, an add of "I live
    in Lyon" updates that memory to "Lives in Lyon". The DELETE, about a text the memory no longer holds, is
    dropped: it used to delete "Lives in Lyon", a fact it never saw."""
    (paris,) = add(space, "I live in Paris")
    monkeypatch.setattr(services, "_decide", deciding_then(lambda: add(space, "I live in Lyon")))

    assert add(space, "I no longer live in Paris") == []
    memory = Memory.objects.get(pk=paris["id"])
    assert (memory.memory, memory.deleted_at) == ("Lives in Lyon", None)
    assert [(row.event, row.new_memory) for row in MemoryHistory.objects.filter(memory_id=paris["id"])] == [
        ("ADD", "Lives in Paris"), ("UPDATE", "Lives in Lyon")]


@pytest.mark.django_db(transaction=True)
def test_an_inferred_update_keeps_apart_a_memory_the_user_rewrote_since_the_decision(space, monkeypatch):
    """"I live in Berlin" decides to UPDATE "Lives in Paris"; before it is applied, the user rewrites that memory
    to "Lives in Lyon" (PUT). The memory keeps the user's text and "Lives in Berlin" is stored as a new memory,
    as for an immutable one: it used to overwrite "Lives in Lyon", the history saying Lyon → Berlin."""
    (paris,) = add(space, "I live in Paris")
    monkeypatch.setattr(services, "_decide", deciding_then(lambda: services.memory_update(
        space=space, memory_id=paris["id"], fields={"text": "Lives in Lyon"})))

    (berlin,) = add(space, "I live in Berlin")
    assert (berlin["memory"], berlin["event"]) == ("Lives in Berlin", "ADD") and berlin["id"] != paris["id"]
    assert Memory.objects.get(pk=paris["id"]).memory == "Lives in Lyon"
    assert set(Memory.objects.alive().filter(space=space).values_list("memory", flat=True)) == {
        "Lives in Lyon", "Lives in Berlin"}
    assert [(row.event, row.new_memory) for row in MemoryHistory.objects.filter(memory_id=paris["id"])] == [
        ("ADD", "Lives in Paris"), ("UPDATE", "Lives in Lyon")]


def pausing_after_the_first(monkeypatch, method: str, *, until) -> threading.Event:
    """Make the memory admin's `method` (restore, soft_delete) pause after its first object until `until()`
    (at most 10 s), holding what it locked; the event returned is set when it pauses."""
    paused, change = threading.Event(), getattr(memory_admin.MemoryAdmin, method)

    def change_then_pause(self, obj) -> None:
        change(self, obj)
        if not paused.is_set():
            paused.set()
            deadline = time.monotonic() + 10
            while not until() and time.monotonic() < deadline:
                time.sleep(0.05)

    monkeypatch.setattr(memory_admin.MemoryAdmin, method, change_then_pause)
    return paused


def admin_action(admin_user, action: str, ids: list):
    """The memory changelist's `action` on `ids`, as an admin runs it."""
    client = Client()
    client.force_login(admin_user)
    return client.post(reverse("admin:mem0_compat_memory_changelist"),
                       {"action": action, "_selected_action": ids}, follow=True)


def waiting_for_a_lock(locktype: str | None = None) -> bool:
    """Whether a transaction waits for a lock (of `locktype`: 'advisory' for those that guard texts)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT exists(SELECT 1 FROM pg_locks WHERE NOT granted AND locktype = coalesce(%s, locktype))",
                       [locktype])
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_restore_of_two_memories_and_an_add_of_their_texts_at_once_do_not_deadlock(space, admin_user,
                                                                                  monkeypatch):
    """The admin restores two deleted memories of alice in one action while an add of both their texts runs:
    after the first restore, the add takes its locks, in hash order, and waits. The restores take them in that
    order too, so the add waits for the action, then finds both texts live and adds nothing. The action used
    to restore newest first: holding the lock of the text that sorts last while the add held the other, each
    waited for the other, and PostgreSQL failed the add (deadlock detected)."""
    texts = sorted(["Speaks Dutch", "Plays chess"], key=services.text_hash)
    ids = []
    for text in texts:  # the text that sorts last is the newest: the first the changelist lists
        (result,) = memory_add(space=space, messages=[{"role": "user", "content": text}],
                               scope={"user_id": "alice"}, infer=False)
        memory_delete(space=space, memory_id=result["id"])
        ids.append(result["id"])
    outcome = {}
    restored_one = pausing_after_the_first(monkeypatch, "restore", until=lambda: waiting_for_a_lock("advisory"))

    def restore_both() -> None:
        outcome["page"] = admin_action(admin_user, "restore_selected", ids)

    def add_both() -> None:
        restored_one.wait(timeout=10)
        try:
            outcome["added"] = memory_add(space=space, messages=[{"role": "user", "content": t} for t in texts],
                                          scope={"user_id": "alice"}, infer=False)
        except Exception as exc:  # the deadlock, asserted on below
            outcome["added"] = exc

    run_at_once(lambda: closing_connections(restore_both), lambda: closing_connections(add_both))
    assert outcome["added"] == []
    assert "Restored 2 memories" in outcome["page"].content.decode()
    assert sorted(Memory.objects.alive().filter(space=space).values_list("memory", flat=True)) == sorted(texts)


@pytest.mark.django_db(transaction=True)
def test_a_soft_delete_of_two_memories_and_a_batch_update_of_them_at_once_do_not_deadlock(space, admin_user,
                                                                                        monkeypatch):
    """The admin soft-deletes two memories in one action while a batch updates both: after the first delete,
    the batch locks them, in id order, and waits. The action deletes in id order too, so the batch waits for it,
    then finds them gone (404). The action used to delete newest first: holding the row that sorts last while
    the batch held the other, each waited for the other, and PostgreSQL failed the batch (deadlock detected)."""
    added = memory_add(space=space, messages=[{"role": "user", "content": f"fact {n}"} for n in range(2)],
                       scope={"user_id": "alice"}, infer=False)
    ids = sorted(result["id"] for result in added)
    for age, memory_id in enumerate(reversed(ids)):  # the memory that sorts last is the newest
        Memory.objects.filter(pk=memory_id).update(created_at=timezone.now() - timedelta(minutes=age))
    outcome = {}
    deleted_one = pausing_after_the_first(monkeypatch, "soft_delete", until=waiting_for_a_lock)

    def delete_both() -> None:
        outcome["page"] = admin_action(admin_user, "soft_delete_selected", ids)

    def update_both() -> None:
        deleted_one.wait(timeout=10)
        try:
            services.memory_batch_update(space=space, updates=[{"memory_id": i, "metadata": {"n": 1}} for i in ids])
        except Exception as exc:  # the deadlock, or the 404, asserted on below
            outcome["update"] = exc

    run_at_once(lambda: closing_connections(delete_both), lambda: closing_connections(update_both))
    assert isinstance(outcome["update"], NotFound), outcome["update"]
    assert "Soft-deleted 2 memories" in outcome["page"].content.decode()
    assert not Memory.objects.alive().filter(space=space).exists()
