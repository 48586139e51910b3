import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mem0_compat import admin as memory_admin
from mem0_compat.models import MEMORY_TEXT_MAX_LENGTH, AddRequest, Memory, MemoryExport, MemoryFeedback, MemoryHistory
from mem0_compat.services import embed, memory_add, memory_delete, memory_update
from tests.admin_forms import BrokenHalfway, broken_halfway, change_form_data
from tests.factories import MemoryFactory, MemorySpaceFactory, UserFactory

pytestmark = pytest.mark.django_db


def changelist(model_name):
    return reverse(f"admin:mem0_compat_{model_name}_changelist")


def change(model_name, pk):
    return reverse(f"admin:mem0_compat_{model_name}_change", args=[pk])


ENTITIES = reverse("admin:mem0_compat_memory_entities")


def run_action(client, action, objs):
    return client.post(changelist("memory"), {"action": action, "_selected_action": [o.pk for o in objs]},
                       follow=True)


def add(space, text, user_id="alice", **options):
    """A memory added through the service, so it has its embedding and its ADD history row."""
    result, = memory_add(space=space, messages=[{"role": "user", "content": text}],
                         scope={"user_id": user_id}, infer=False, **options)
    return Memory.objects.get(pk=result["id"])


def history_of(memory):
    return list(MemoryHistory.objects.filter(memory_id=memory.pk).order_by("created_at", "id"))


def search(client, term, **params):
    return client.get(changelist("memory"), {"q": term, **params}).content.decode()


@pytest.fixture
def memories(space):
    return [add(space, text) for text in ["Has a cat named Tuna", "Deploys on Fridays using ArgoCD",
                                          "Likes hiking"]]


def test_every_changelist_and_change_page_answers(admin_client, space, memories):
    memory = memories[0]
    pages = {
        "memory": memory.pk,
        "memoryhistory": history_of(memory)[0].pk,
        "addrequest": AddRequest.objects.create(space=space, payload={"messages": []}).pk,
        "memoryexport": MemoryExport.objects.create(space=space, schema={}, result=[{"memory": "x"}]).pk,
        "memoryfeedback": MemoryFeedback.objects.create(space=space, memory_id=memory.pk,
                                                        feedback="POSITIVE").pk,
    }
    for model_name, pk in pages.items():
        assert admin_client.get(changelist(model_name)).status_code == 200, model_name
        assert admin_client.get(change(model_name, pk)).status_code == 200, model_name
    assert "Has a cat named Tuna" in admin_client.get(changelist("memory")).content.decode()
    assert admin_client.get(ENTITIES).status_code == 200
    assert admin_client.get(ENTITIES, {"space": space.pk}).status_code == 200


def test_memory_page_shows_history_oldest_first_and_not_the_vector(admin_client, space):
    memory = add(space, "Has a cat named Tuna")
    memory_update(space=space, memory_id=memory.pk, fields={"text": "Has a cat named Miso"})
    content = admin_client.get(change("memory", memory.pk)).content.decode()
    assert "<td>ADD</td>" in content
    assert content.index("<td>ADD</td>") < content.index("<td>UPDATE</td>")
    assert f"?memory_id={memory.pk}" in content
    assert "field-embedding" not in content and "field-search_vector" not in content
    listed = admin_client.get(changelist("memoryhistory"), {"memory_id": memory.pk}).content.decode()
    assert "Has a cat named Miso" in listed


def test_a_history_page_shows_the_messages_that_caused_it(admin_client, space):
    memory = add(space, "Has a cat named <Tuna>")
    added, = history_of(memory)
    content = admin_client.get(change("memoryhistory", added.pk)).content.decode()
    assert '&quot;content&quot;: &quot;Has a cat named &lt;Tuna&gt;&quot;' in content


def test_memory_pages_read_no_vectors(admin_client, memories):
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get(changelist("memory")).status_code == 200
        assert admin_client.get(change("memory", memories[0].pk)).status_code == 200
    reads = [query["sql"] for query in queries.captured_queries
             if query["sql"].startswith('SELECT "mem0_compat_memory"."id"')]
    assert len(reads) >= 2
    assert not any('"embedding"' in sql or '"search_vector"' in sql for sql in reads)


def test_search_lists_the_closest_memory_first_with_its_score(admin_client, memories):
    content = search(admin_client, "when do we deploy")
    positions = [content.index(text) for text in ["Deploys on Fridays using ArgoCD", "Has a cat named Tuna",
                                                  "Likes hiking"]]
    assert positions[0] == min(positions)
    assert 'class="column-score"' in content
    assert 'class="column-score"' not in admin_client.get(changelist("memory")).content.decode()


def test_a_search_term_the_changelist_refuses_lists_memories_without_scores(admin_client, memories):
    """The changelist's own form refuses a term with a NUL (and says so): the list is then unsearched, so it
    has no score column to fill, not a 500."""
    response = admin_client.get(changelist("memory"), {"q": "cat\x00"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "Null characters are not allowed" in content
    assert 'class="column-score"' not in content and "Has a cat named Tuna" in content


def test_search_is_scoped_to_the_chosen_space(admin_client, space):
    other = MemorySpaceFactory()
    add(space, "Deploys on Fridays using ArgoCD")
    add(other, "Deploys on Mondays using Jenkins")
    everywhere = search(admin_client, "deploy")
    assert "ArgoCD" in everywhere and "Jenkins" in everywhere
    scoped = search(admin_client, "deploy", space__id__exact=space.pk)
    assert "ArgoCD" in scoped and "Jenkins" not in scoped


def test_search_takes_its_best_hits_among_the_filtered_memories_only(admin_client, space, monkeypatch):
    monkeypatch.setattr(memory_admin, "SEARCH_TOP_K", 1)
    add(space, "Likes hiking")
    add(space, "Deploys on Fridays using ArgoCD", user_id="bob")
    add(MemorySpaceFactory(), "Deploys on Mondays using Jenkins")
    content = search(admin_client, "deploy", space__id__exact=space.pk, user_id="alice")
    assert "Likes hiking" in content


def test_search_by_id_finds_that_memory(admin_client, memories):
    content = search(admin_client, str(memories[2].pk))
    assert "Likes hiking" in content
    assert "Has a cat named Tuna" not in content


def test_soft_delete_action_goes_through_the_service(admin_client, memories):
    memory = memories[0]
    run_action(admin_client, "soft_delete_selected", [memory])
    memory.refresh_from_db()
    assert memory.deleted_at is not None
    assert [entry.event for entry in history_of(memory)] == ["ADD", "DELETE"]
    assert Memory.objects.alive().count() == 2


def test_soft_delete_action_broken_half_way_deletes_nothing(admin_client, memories, monkeypatch):
    monkeypatch.setattr(memory_admin, "memory_delete", broken_halfway(memory_admin.memory_delete))
    with pytest.raises(BrokenHalfway):
        run_action(admin_client, "soft_delete_selected", memories)
    assert Memory.objects.alive().count() == 3
    assert not MemoryHistory.objects.filter(event="DELETE").exists()


@pytest.mark.parametrize("broken", ["restore", "refused"])
def test_restore_action_failing_for_one_memory_restores_none(admin_client, space, monkeypatch, broken):
    memories = [add(space, "Likes hiking"), add(space, "Has a cat named Tuna")]
    for memory in memories:
        memory_delete(space=space, memory_id=memory.pk)
    if broken == "restore":
        monkeypatch.setattr(memory_admin.MemoryAdmin, "restore", broken_halfway(memory_admin.MemoryAdmin.restore))
        with pytest.raises(BrokenHalfway):
            run_action(admin_client, "restore_selected", memories)
    else:  # the scope holds one of the texts again: that one cannot come back
        add(space, "Has a cat named Tuna")
        assert "Not restored" in run_action(admin_client, "restore_selected", memories).content.decode()
    assert not Memory.objects.alive().filter(pk__in=[memory.pk for memory in memories]).exists()
    assert not MemoryHistory.objects.filter(metadata={"restored": True}).exists()


def test_restore_action_revives_the_memory_and_records_it(admin_client, space):
    memory = add(space, "Likes hiking")
    memory_delete(space=space, memory_id=memory.pk)
    run_action(admin_client, "restore_selected", [memory])
    memory.refresh_from_db()
    assert memory.deleted_at is None
    restored = history_of(memory)[-1]
    assert (restored.event, restored.new_memory, restored.metadata) == ("ADD", "Likes hiking",
                                                                        {"restored": True})
    assert "Likes hiking" in search(admin_client, "hiking")


def test_restore_refused_when_the_scope_holds_the_text_again(admin_client, space):
    memory = add(space, "Likes hiking")
    memory_delete(space=space, memory_id=memory.pk)
    add(space, "Likes hiking")
    response = run_action(admin_client, "restore_selected", [memory])
    memory.refresh_from_db()
    assert memory.deleted_at is not None
    assert "Not restored" in response.content.decode()
    assert Memory.objects.alive().filter(memory="Likes hiking").count() == 1


def test_restore_is_not_refused_for_the_same_text_in_a_narrower_scope(admin_client, space):
    memory = add(space, "Likes hiking")
    memory_delete(space=space, memory_id=memory.pk)
    memory_add(space=space, messages=[{"role": "user", "content": "Likes hiking"}],
               scope={"user_id": "alice", "run_id": "trip-1"}, infer=False)
    run_action(admin_client, "restore_selected", [memory])
    memory.refresh_from_db()
    assert memory.deleted_at is None


def test_editing_the_text_reembeds_it_and_writes_history(admin_client, space, memories):
    memory = memories[0]
    response = admin_client.post(change("memory", memory.pk),
                                 {"memory": "Drinks green tea every morning", "metadata": "null",
                                  "expiration_date": ""})
    assert response.status_code == 302
    memory.refresh_from_db()
    assert memory.memory == "Drinks green tea every morning"
    assert np.allclose(memory.embedding, embed(["Drinks green tea every morning"])[0], atol=1e-5)
    update = history_of(memory)[-1]
    assert (update.event, update.old_memory, update.new_memory) == (
        "UPDATE", "Has a cat named Tuna", "Drinks green tea every morning")
    content = search(admin_client, "which hot beverage in the morning")
    assert content.index("Drinks green tea") < min(content.index("ArgoCD"), content.index("Likes hiking"))


def test_a_text_longer_than_the_api_takes_is_refused_on_the_page(admin_client, memories):
    memory = memories[0]
    response = admin_client.post(change("memory", memory.pk), {"memory": "x" * (MEMORY_TEXT_MAX_LENGTH + 1),
                                                               "metadata": "null", "expiration_date": ""})
    assert response.status_code == 200
    assert f"at most {MEMORY_TEXT_MAX_LENGTH} characters" in response.content.decode()
    memory.refresh_from_db()
    assert memory.memory == "Has a cat named Tuna" and len(history_of(memory)) == 1


def test_an_edit_the_engine_cannot_embed_is_reported_not_a_500(admin_client, memories, settings):
    """After EMBEDDER changed and before `reembed`, the memory service refuses new texts (their vector would not
    match the stored ones): the change page says why and keeps the memory as it was."""
    memory = memories[0]
    settings.EMBEDDER = "minilm-int8"  # not the embedder the column records
    response = admin_client.post(change("memory", memory.pk),
                                 {"memory": "Drinks green tea every morning", "metadata": "null",
                                  "expiration_date": ""}, follow=True)
    assert response.status_code == 200
    content = response.content.decode()
    assert "Not saved: Long-term memory is unavailable" in content and "manage.py reembed" in content
    memory.refresh_from_db()
    assert memory.memory == "Has a cat named Tuna" and [entry.event for entry in history_of(memory)] == ["ADD"]


def test_saving_without_changes_writes_no_history(admin_client, memories):
    memory = memories[0]
    admin_client.post(change("memory", memory.pk),
                      {"memory": memory.memory, "metadata": "null", "expiration_date": ""})
    assert [entry.event for entry in history_of(memory)] == ["ADD"]


def test_immutable_and_deleted_memories_cannot_be_edited(admin_client, space):
    immutable = add(space, "Has a cat named Tuna", immutable=True)
    deleted = add(space, "Likes hiking")
    memory_delete(space=space, memory_id=deleted.pk)
    for memory in [immutable, deleted]:
        response = admin_client.post(change("memory", memory.pk), {"memory": "changed", "metadata": "null",
                                                                   "expiration_date": ""})
        memory.refresh_from_db()
        assert response.status_code == 403
        assert memory.memory != "changed"


def test_memories_cannot_be_added_or_hard_deleted(admin_client, memories):
    content = admin_client.get(changelist("memory")).content.decode()
    assert "soft_delete_selected" in content and "restore_selected" in content
    assert "delete_selected" not in content.replace("soft_delete_selected", "")
    assert admin_client.get(reverse("admin:mem0_compat_memory_add")).status_code == 403
    assert admin_client.post(reverse("admin:mem0_compat_memory_delete", args=[memories[0].pk]),
                             {"post": "yes"}).status_code == 403
    assert Memory.objects.filter(pk=memories[0].pk).exists()


def test_service_written_models_are_read_only(admin_client, space, memories):
    entry = history_of(memories[0])[0]
    response = admin_client.post(change("memoryhistory", entry.pk), {"event": "DELETE"})
    entry.refresh_from_db()
    assert response.status_code == 403
    assert entry.event == "ADD"
    for model_name in ["memoryhistory", "addrequest", "memoryexport", "memoryfeedback"]:
        assert admin_client.get(reverse(f"admin:mem0_compat_{model_name}_add")).status_code == 403, model_name


def test_entities_page_lists_each_entity_with_its_count(admin_client, space):
    add(space, "Has a cat named Tuna")
    add(space, "Likes hiking")
    add(space, "Prefers tea", user_id="bob")
    add(MemorySpaceFactory(), "Likes sailing")
    response = admin_client.get(ENTITIES, {"space": space.pk})
    rows = [(entity["type"], entity["name"], entity["total_memories"])
            for entity in response.context["entities"]]
    assert rows == [("user", "alice", 2), ("user", "bob", 1)]
    link = f"?space__id__exact={space.pk}&amp;user_id=alice&amp;deleted=no"
    assert link in response.content.decode()
    alices = admin_client.get(changelist("memory"), {"space__id__exact": space.pk, "user_id": "alice",
                                                     "deleted": "no"}).content.decode()
    assert "Likes hiking" in alices and "Prefers tea" not in alices


def test_entities_page_shows_a_space_of_many_users_page_by_page(admin_client, space, monkeypatch):
    monkeypatch.setattr("mem0_compat.admin.ENTITIES_PER_PAGE", 2)
    for name in ["carol", "alice", "bob"]:
        add(space, f"Likes tea, says {name}", user_id=name)
    first = admin_client.get(ENTITIES, {"space": space.pk})
    assert [entity["name"] for entity in first.context["entities"]] == ["alice", "bob"]
    assert f"?space={space.pk}&amp;page=2" in first.content.decode()
    second = admin_client.get(ENTITIES, {"space": space.pk, "page": 2})
    assert [entity["name"] for entity in second.context["entities"]] == ["carol"]


def test_memory_changelist_links_to_the_entities_of_the_chosen_space(admin_client, space):
    content = admin_client.get(changelist("memory"), {"space__id__exact": space.pk}).content.decode()
    assert f'{ENTITIES}?space={space.pk}"' in content


def test_non_staff_user_is_sent_to_login(client, memories):
    client.force_login(UserFactory())
    urls = [changelist("memory"), change("memory", memories[0].pk), ENTITIES, changelist("memoryhistory")]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response.url.startswith("/admin/login/"), url


def test_history_search_by_memory_id_and_event_filter(admin_client, space, memories):
    memory_delete(space=space, memory_id=memories[0].pk)
    by_id = admin_client.get(changelist("memoryhistory"), {"q": str(memories[0].pk)}).content.decode()
    assert "Has a cat named Tuna" in by_id and "Likes hiking" not in by_id
    deletes = admin_client.get(changelist("memoryhistory"), {"event": "DELETE"}).content.decode()
    assert "Has a cat named Tuna" in deletes and "Likes hiking" not in deletes


def test_add_request_status_filter(admin_client, space):
    failed = AddRequest.objects.create(space=space, payload={}, status=AddRequest.Status.FAILED)
    pending = AddRequest.objects.create(space=space, payload={})
    content = admin_client.get(changelist("addrequest"), {"status__exact": "FAILED"}).content.decode()
    assert str(failed.pk) in content and str(pending.pk) not in content


def test_memory_changelist_queries_do_not_grow_with_rows(admin_client, space):
    def queries():
        with CaptureQueriesContext(connection) as context:
            assert admin_client.get(changelist("memory")).status_code == 200
        return len(context)

    MemoryFactory(space=space)
    one = queries()
    MemoryFactory.create_batch(3, space=MemorySpaceFactory())
    assert queries() == one


@pytest.mark.parametrize("metadata", ["[1]", '"a string"', "true"])
def test_memory_metadata_that_is_not_an_object_is_a_form_error(admin_client, api, space, memories, metadata):
    """A memory's metadata is an object (or null) on the wire, as the API's update requires."""
    memory = memories[0]
    data = {**change_form_data(admin_client, change("memory", memory.pk)), "metadata": metadata}
    response = admin_client.post(change("memory", memory.pk), data)
    assert response.status_code == 200 and "must be a JSON object" in response.content.decode()
    answer = api.get(f"/api/v2/memory/{space.pk}/v1/memories/{memory.pk}/")
    assert answer.status_code == 200 and answer.json()["metadata"] is None
    assert [entry.event for entry in history_of(memory)] == ["ADD"]
