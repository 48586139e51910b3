from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from lifecycle import services as lifecycle
from memoryspaces import admin as spaces_admin
from memoryspaces.models import ApiKey, MemorySpace
from memoryspaces.services import api_key_create, api_key_revoke
from tests.admin_forms import BrokenHalfway, admin_pages, broken_halfway, change_form_data
from tests.factories import MemorySpaceFactory, TenantFactory, UserFactory, make_session

pytestmark = pytest.mark.django_db


changelist, change, run_action = admin_pages("memoryspaces")


def test_non_staff_user_is_sent_to_login(client, space):
    client.force_login(UserFactory())
    for url in ["/admin/", changelist("memoryspace")]:
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith("/admin/login/")
    assert space.description not in client.get(changelist("memoryspace"), follow=True).content.decode()


def test_every_changelist_and_change_page_answers(admin_client, user, space):
    key, _ = api_key_create(user=user)
    deleted = MemorySpaceFactory(owner=user, deleted_at=timezone.now())
    pages = {
        "tenant": user.tenant.pk,
        "user": user.pk,
        "apikey": key.pk,
        "memoryspace": space.pk,
    }
    for model_name, pk in pages.items():
        assert admin_client.get(changelist(model_name)).status_code == 200
        assert admin_client.get(change(model_name, pk)).status_code == 200
    response = admin_client.get(change("memoryspace", deleted.pk))
    assert response.status_code == 200
    assert deleted.description in response.content.decode()


def test_user_pages_show_the_tenant(admin_client, user):
    assert user.tenant.name in admin_client.get(changelist("user")).content.decode()
    assert user.tenant.name in admin_client.get(change("user", user.pk)).content.decode()


def test_space_search_by_description_owner_tenant_and_id(admin_client):
    owner = UserFactory(username="owner-alpha", tenant=TenantFactory(name="tenant-alpha"))
    alpha = MemorySpaceFactory(description="alpha-space", owner=owner)
    MemorySpaceFactory(description="beta-space")
    for query in ["alpha", "owner-alpha", "tenant-alpha", str(alpha.id)]:
        content = admin_client.get(changelist("memoryspace"), {"q": query}).content
        assert b"alpha-space" in content, query
        assert b"beta-space" not in content, query


def test_space_deleted_filter(admin_client, user):
    MemorySpaceFactory(owner=user, description="live-space")
    MemorySpaceFactory(owner=user, description="gone-space", deleted_at=timezone.now())
    live = admin_client.get(changelist("memoryspace"), {"deleted": "no"}).content
    gone = admin_client.get(changelist("memoryspace"), {"deleted": "yes"}).content
    assert b"live-space" in live and b"gone-space" not in live
    assert b"gone-space" in gone and b"live-space" not in gone


def test_space_changelist_queries_do_not_grow_with_rows(admin_client):
    def queries():
        with CaptureQueriesContext(connection) as context:
            assert admin_client.get(changelist("memoryspace")).status_code == 200
        return len(context)

    MemorySpaceFactory()
    one = queries()
    MemorySpaceFactory.create_batch(3)
    assert queries() == one


def test_space_soft_delete_and_restore_actions(admin_client, space):
    run_action(admin_client, "memoryspace", "soft_delete_selected", [space])
    space.refresh_from_db()
    assert space.deleted_at is not None

    run_action(admin_client, "memoryspace", "restore_selected", [space])
    space.refresh_from_db()
    assert space.deleted_at is None


def test_restoring_a_space_in_the_admin_lets_its_sessions_strategies_fire(admin_client, space):
    session = make_session(space, strategies=[{"type": "soft_delete", "trigger": {"ttl": 1}}])
    later = session.created_at + timedelta(seconds=5)
    run_action(admin_client, "memoryspace", "soft_delete_selected", [space])
    assert lifecycle.sweep(now=later).fired == []
    run_action(admin_client, "memoryspace", "restore_selected", [space])
    assert len(lifecycle.sweep(now=later).fired) == 1


def test_space_restore_refused_when_its_deduplication_key_is_taken(admin_client, user):
    gone = MemorySpaceFactory(owner=user, deduplication_key="k", deleted_at=timezone.now())
    MemorySpaceFactory(owner=user, deduplication_key="k")
    response = run_action(admin_client, "memoryspace", "restore_selected", [gone])
    gone.refresh_from_db()
    assert gone.deleted_at is not None
    assert "deduplication key is in use" in response.content.decode()
    assert MemorySpace.objects.alive().filter(owner=user).count() == 1


@pytest.mark.parametrize(("action", "broken"), [("soft_delete_selected", "space_soft_delete"),
                                                 ("restore_selected", "space_restore")])
def test_a_space_action_broken_half_way_changes_nothing(admin_client, user, monkeypatch, action, broken):
    deleted_at = timezone.now() if action == "restore_selected" else None
    spaces = MemorySpaceFactory.create_batch(2, owner=user, deleted_at=deleted_at)
    monkeypatch.setattr(spaces_admin, broken, broken_halfway(getattr(spaces_admin, broken)))
    with pytest.raises(BrokenHalfway):
        run_action(admin_client, "memoryspace", action, spaces)
    assert {space.deleted_at for space in MemorySpace.objects.filter(owner=user)} == {deleted_at}


def test_a_space_restore_refused_for_one_restores_none(admin_client, user):
    gone = [MemorySpaceFactory(owner=user, deleted_at=timezone.now()),
            MemorySpaceFactory(owner=user, deduplication_key="k", deleted_at=timezone.now())]
    MemorySpaceFactory(owner=user, deduplication_key="k")
    response = run_action(admin_client, "memoryspace", "restore_selected", gone)
    assert "deduplication key is in use" in response.content.decode()
    assert MemorySpace.objects.alive().filter(owner=user).count() == 1


def test_a_revoke_broken_half_way_revokes_no_key(admin_client, user, monkeypatch):
    keys = [api_key_create(user=user)[0] for _ in range(2)]
    monkeypatch.setattr(spaces_admin, "api_key_revoke", broken_halfway(spaces_admin.api_key_revoke))
    with pytest.raises(BrokenHalfway):
        run_action(admin_client, "apikey", "revoke_selected", keys)
    assert not ApiKey.objects.filter(user=user).exclude(revoked_at=None).exists()


def test_api_key_revoke_action(admin_client, user):
    key, kept = api_key_create(user=user)[0], api_key_create(user=user)[0]
    run_action(admin_client, "apikey", "revoke_selected", [key])
    key.refresh_from_db()
    kept.refresh_from_db()
    assert key.revoked_at is not None
    assert kept.revoked_at is None


def test_api_key_revoked_filter(admin_client, user):
    revoked, live = api_key_create(user=user)[0], api_key_create(user=user)[0]
    api_key_revoke(prefix=revoked.prefix)
    content = admin_client.get(changelist("apikey"), {"revoked": "yes"}).content.decode()
    assert revoked.prefix in content and live.prefix not in content


def test_api_key_cannot_be_added_and_its_digest_is_not_shown(admin_client, user):
    key, _ = api_key_create(user=user)
    assert admin_client.get(reverse("admin:memoryspaces_apikey_add")).status_code == 403
    listing = admin_client.get(changelist("apikey")).content.decode()
    assert "manage.py create_api_key" in listing
    assert key.digest not in admin_client.get(change("apikey", key.pk)).content.decode()


@pytest.mark.parametrize("change_field", ["owner", "tenant"])
def test_a_space_owner_outside_its_tenant_is_a_form_error(admin_client, space, change_field):
    stranger = UserFactory()  # of another tenant
    data = change_form_data(admin_client, change("memoryspace", space.pk))
    data[change_field] = str(stranger.pk if change_field == "owner" else stranger.tenant_id)
    response = admin_client.post(change("memoryspace", space.pk), data)
    assert response.status_code == 200 and "The owner must belong to the space" in response.content.decode()
    space.refresh_from_db()
    assert space.owner.tenant_id == space.tenant_id


def test_a_space_owner_of_the_same_tenant_is_accepted(admin_client, space):
    colleague = UserFactory(tenant=space.tenant)
    data = {**change_form_data(admin_client, change("memoryspace", space.pk)), "owner": str(colleague.pk)}
    assert admin_client.post(change("memoryspace", space.pk), data).status_code == 302
    space.refresh_from_db()
    assert space.owner == colleague


def test_a_user_who_owns_spaces_cannot_be_moved_to_another_tenant(admin_client, space, user):
    other = TenantFactory()
    data = {**change_form_data(admin_client, change("user", user.pk)), "tenant": str(other.pk)}
    response = admin_client.post(change("user", user.pk), data)
    assert response.status_code == 200 and "owns memory spaces of another tenant" in response.content.decode()
    user.refresh_from_db()
    assert user.tenant_id == space.tenant_id
    MemorySpace.objects.filter(pk=space.pk).update(owner=UserFactory(tenant=space.tenant))
    assert admin_client.post(change("user", user.pk), data).status_code == 302  # owning none, it may move
    user.refresh_from_db()
    assert user.tenant_id == other.pk


def test_a_space_deduplication_key_in_use_is_a_form_error(admin_client, space):
    MemorySpaceFactory(owner=space.owner, tenant=space.tenant, deduplication_key="support")
    data = {**change_form_data(admin_client, change("memoryspace", space.pk)), "deduplication_key": "support"}
    response = admin_client.post(change("memoryspace", space.pk), data)
    assert response.status_code == 200 and "already uses this deduplication key" in response.content.decode()
    space.refresh_from_db()
    assert space.deduplication_key is None


@pytest.mark.parametrize("url", ["not a url", "ftp://llm.internal/v1", "http:///v1"])
def test_a_space_llm_base_url_the_api_refuses_is_a_form_error(admin_client, space, url):
    """The admin holds llmBaseUrl to what PATCH takes (an http(s) URL with a host): the space's adds send it
    to that URL, and GET answers it as the OpenAPI document says."""
    data = {**change_form_data(admin_client, change("memoryspace", space.pk)), "llm_base_url": url}
    response = admin_client.post(change("memoryspace", space.pk), data)
    assert response.status_code == 200 and "Enter a valid http(s) URL with a host" in response.content.decode()
    space.refresh_from_db()
    assert space.llm_base_url is None


def test_a_space_model_whose_provider_calls_localhost_by_default_is_a_form_error(admin_client, space, settings):
    """A staff user's edit is held to LLM_ALLOWED_HOSTS like a tenant's PATCH, also at a provider's default."""
    settings.LLM_ALLOWED_HOSTS, settings.LLM_BASE_URL = [], None
    data = {**change_form_data(admin_client, change("memoryspace", space.pk)), "llm_model_name": "vllm/local"}
    response = admin_client.post(change("memoryspace", space.pk), data)
    assert response.status_code == 200 and "default endpoint" in response.content.decode()
    space.refresh_from_db()
    assert space.llm_model_name is None


def test_a_space_base_url_its_provider_would_ignore_is_a_form_error(admin_client, space):
    data = {**change_form_data(admin_client, change("memoryspace", space.pk)), "llm_model_name": "groq/llama3-70b",
            "llm_base_url": "https://llm.example.com/v1"}
    response = admin_client.post(change("memoryspace", space.pk), data)
    assert response.status_code == 200 and "groq takes no base URL" in response.content.decode()
    space.refresh_from_db()
    assert space.llm_model_name is None


def test_a_space_llm_base_url_on_an_internal_host_is_a_form_error(admin_client, space, settings):
    """A staff user's edit is held to LLM_ALLOWED_HOSTS like a tenant's PATCH."""
    settings.LLM_ALLOWED_HOSTS = []
    data = {**change_form_data(admin_client, change("memoryspace", space.pk)),
            "llm_base_url": "http://169.254.169.254/latest/"}
    response = admin_client.post(change("memoryspace", space.pk), data)
    assert response.status_code == 200 and "LLM_ALLOWED_HOSTS" in response.content.decode()
    space.refresh_from_db()
    assert space.llm_base_url is None
