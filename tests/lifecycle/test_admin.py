from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission

from lifecycle import services
from lifecycle.models import StrategyExecution
from tests.admin_forms import BrokenHalfway, broken_halfway
from tests.factories import UserFactory, make_session


def failed_execution(space):
    session = make_session(space, strategies=[{"type": "soft_delete", "trigger": {"ttl": 1}}])
    (execution_id,) = services.sweep(now=session.created_at + timedelta(seconds=5)).fired
    StrategyExecution.objects.filter(pk=execution_id).update(status="failed", error="LLM unreachable", attempts=6)
    return session, StrategyExecution.objects.get(pk=execution_id)


def test_executions_are_listed_filterable_and_viewable(admin_client, space):
    session, execution = failed_execution(space)
    listing = admin_client.get("/admin/lifecycle/strategyexecution/?status__exact=failed")
    assert listing.status_code == 200 and "LLM unreachable" in listing.content.decode()
    assert "LLM unreachable" not in admin_client.get(
        "/admin/lifecycle/strategyexecution/?status__exact=succeeded").content.decode()
    assert admin_client.get(f"/admin/lifecycle/strategyexecution/{execution.pk}/change/").status_code == 200


def test_rerun_puts_a_failed_execution_back_to_pending(admin_client, space):
    session, execution = failed_execution(space)
    response = admin_client.post("/admin/lifecycle/strategyexecution/",
                                 {"action": "rerun_failed", "_selected_action": [execution.pk]}, follow=True)
    assert "1 queued again" in response.content.decode()
    execution.refresh_from_db()
    assert (execution.status, execution.error, execution.attempts) == ("pending", "", 0)  # all its retries again


def test_a_rerun_broken_half_way_puts_no_execution_back(admin_client, space, monkeypatch):
    executions = [failed_execution(space)[1] for _ in range(2)]
    monkeypatch.setattr(services, "execution_retry", broken_halfway(services.execution_retry))
    with pytest.raises(BrokenHalfway):
        admin_client.post("/admin/lifecycle/strategyexecution/",
                          {"action": "rerun_failed", "_selected_action": [e.pk for e in executions]})
    assert set(StrategyExecution.objects.values_list("status", flat=True)) == {"failed"}


def test_session_page_shows_each_strategys_lifecycle_state(admin_client, space):
    session, execution = failed_execution(space)
    page = admin_client.get(f"/admin/sessions_app/session/{session.pk}/change/").content.decode()
    assert "failed (attempts 6)" in page
    assert f"/admin/lifecycle/strategyexecution/{execution.pk}/change/" in page


def staff_client(client, *codenames):
    """A logged-in staff user who may view executions, plus the permissions named."""
    staff = UserFactory(is_staff=True)
    staff.user_permissions.set(Permission.objects.filter(
        content_type__app_label="lifecycle", codename__in=["view_strategyexecution", *codenames]))
    client.force_login(staff)
    return client


def test_rerun_needs_its_own_permission_beyond_viewing(client, space):
    session, execution = failed_execution(space)
    viewer = staff_client(client)
    listing = viewer.get("/admin/lifecycle/strategyexecution/").content.decode()
    assert listing.count("LLM unreachable") == 1 and "rerun_failed" not in listing
    response = viewer.post("/admin/lifecycle/strategyexecution/",
                           {"action": "rerun_failed", "_selected_action": [execution.pk]}, follow=True)
    assert "queued again" not in response.content.decode()
    execution.refresh_from_db()
    assert execution.status == "failed"


def test_a_staff_user_given_the_rerun_permission_reruns(client, space):
    session, execution = failed_execution(space)
    response = staff_client(client, "rerun_strategyexecution").post(
        "/admin/lifecycle/strategyexecution/", {"action": "rerun_failed", "_selected_action": [execution.pk]},
        follow=True)
    assert "1 queued again" in response.content.decode()
    execution.refresh_from_db()
    assert execution.status == "pending"
