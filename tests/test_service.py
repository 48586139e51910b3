"""The service's own pages: health, readiness, landing page, OpenAPI document and its UIs, JSON 404s."""

import re
import socket
import threading

import pytest
from django.db import connection


def test_health_is_200_json(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_ready_is_200_when_the_database_and_the_broker_answer(client, db):
    response = client.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": True, "broker": True}


def test_ready_is_503_when_the_broker_does_not_answer(client, db, settings):
    from config.embedded import free_port

    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": True, "broker": False}


def test_ready_is_503_when_the_database_does_not_answer(client, db, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise connection.Database.OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.json()["checks"]["database"] is False


def test_landing_page_links_docs_and_admin(client):
    page = client.get("/").content.decode()
    for link in ("/schema/swagger-ui/", "/schema/redoc/", "/schema/", "/admin/"):
        assert f'href="{link}"' in page


def test_openapi_document_describes_every_chat_history_route(client):
    response = client.get("/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path, methods in {
        "/api/v2/version/": {"get"},
        "/api/v2/memory/": {"get"},
        "/api/v2/memory/new/": {"post"},
        "/api/v2/memory/{space_id}/": {"get", "patch", "delete"},
        "/api/v2/memory/{space_id}/sessions/": {"get", "post"},
        "/api/v2/memory/{space_id}/sessions/{session_id}/": {"get", "patch", "delete"},
        "/api/v2/memory/{space_id}/sessions/{session_id}/events/": {"get", "post"},
        "/api/v2/memory/{space_id}/sessions/{session_id}/events/batch/": {"post", "patch"},
        "/api/v2/memory/{space_id}/sessions/{session_id}/events/{sequence_id}/": {"patch", "delete"},
    }.items():
        assert methods <= set(paths[path]), path
    space = response.json()["components"]["schemas"]["MemorySpaceOut"]["properties"]
    assert {"memorySpaceId", "userId", "tenantId", "createdAt"} <= set(space)


def test_health_and_ready_are_in_the_openapi_document_as_they_answer(client, db, settings):
    """The contract: /schema/ is the OpenAPI document of everything it lists, /health and /ready included;
    neither needs a key."""
    from config.embedded import free_port
    from tests.openapi_conformance import assert_conforms, served_schema

    for path in ("/health", "/ready"):
        assert served_schema()["paths"][path]["get"]["security"] == [{}]
        assert_conforms(client.get(path), "GET", path)
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{free_port()}/0"
    response = client.get("/ready")
    assert response.status_code == 503
    assert_conforms(response, "GET", "/ready")


@pytest.mark.parametrize("page", ["/schema/swagger-ui/", "/schema/redoc/"])
def test_docs_pages_render_with_local_assets(client, page):
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html
    assert "/static/drf_spectacular_sidecar/" in html
    # Offline means no outside host at all: ReDoc's stock page also fetches its fonts from Google.
    assert re.findall(r'(?:src|href)="(https?:[^"]*)"', html) == []


def test_unknown_paths_are_json_404(client, db):
    response = client.get("/api/v2/nothing-here/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


def test_admin_error_pages_are_html_and_the_api_s_json(admin_client, api, monkeypatch):
    """An operator's browser in the admin gets an HTML page for a page that is not there or a bug, as the admin's
    own pages are; only the API (and the paths outside the admin) answers JSON. Both were JSON."""
    from django.contrib.admin import AdminSite

    from memoryspaces.api.views import VersionView

    missing = admin_client.get("/admin/memoryspaces/no-such-model/")
    assert (missing.status_code, missing["Content-Type"]) == (404, "text/html; charset=utf-8")
    assert "<h1>Not Found</h1>" in missing.content.decode()

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(AdminSite, "get_app_list", broken)
    monkeypatch.setattr(VersionView, "get", broken)
    admin_client.raise_request_exception = api.raise_request_exception = False
    failed = admin_client.get("/admin/")
    assert (failed.status_code, failed["Content-Type"]) == (500, "text/html; charset=utf-8")
    assert "<h1>Server Error (500)</h1>" in failed.content.decode()
    failed = api.get("/api/v2/version/")
    assert (failed.status_code, failed.json()) == (500, {"detail": "Internal server error"})


def test_duplicate_slashes_are_collapsed(client, api_key):
    response = client.get("/api/v2//version/", HTTP_AUTHORIZATION=f"Token {api_key}")
    assert response.status_code == 200


def test_openapi_document_is_valid_and_generates_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    text = (tmp_path / "schema.yaml").read_text()
    assert "additionalProperties: false" in text and "HTTPValidationErrorOut" in text


def test_models_and_migrations_agree(db):
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_ready_is_503_within_seconds_when_the_database_accepts_but_never_answers(client, db, monkeypatch):
    """A database host that takes the TCP connection and says nothing (hung, or a stuck proxy in front of it):
    the connection attempt must give up, not hold the readiness probe (and every worker) until the kernel
    does."""
    from django.db.backends.postgresql.base import DatabaseWrapper

    from config import views

    answers = []

    def probe_ready(port):  # a database connection belongs to the thread that made it
        monkeypatch.setattr(views, "connection", DatabaseWrapper(
            {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": port}, alias="silent"))
        answers.append(client.get("/ready"))

    with socket.create_server(("127.0.0.1", 0)) as silent:
        probe = threading.Thread(target=probe_ready, args=(silent.getsockname()[1],), daemon=True)
        probe.start()
        probe.join(timeout=15)
        assert not probe.is_alive(), "/ready still waiting for the database after 15 s"
    assert answers[0].status_code == 503
    assert answers[0].json()["checks"]["database"] is False
