"""The deployment files say what the README promises. (No Docker engine runs here, so they are read, not run.)"""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def test_compose_runs_every_process_with_a_healthcheck():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat"}
    assert all("healthcheck" in service for service in services.values())
    assert "pgvector" in services["postgres"]["image"]
    for name in ("web", "worker", "beat"):
        assert services[name]["build"] == "."
        assert services[name]["environment"]["DATABASE_URL"].endswith("@postgres:5432/memory")
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["web"]["ports"] == ["127.0.0.1:${PORT:-8000}:8000"]


def test_procfile_runs_web_worker_and_beat():
    processes = dict(line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line)
    assert set(processes) == {"web", "worker", "beat"}
    assert "127.0.0.1:$PORT" in processes["web"]
    assert "celery -A config worker" in processes["worker"] and "celery -A config beat" in processes["beat"]


def test_the_image_copies_every_app():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for app in ("config", "memoryspaces", "sessions_app", "mem0_compat", "lifecycle", "templates"):
        assert f"COPY {app} ./{app}" in dockerfile
