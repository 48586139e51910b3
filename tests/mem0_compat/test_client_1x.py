"""mem0ai 1.x (1.0.11, the last of that generation) unchanged against a live server: its `MemoryClient` and
`AsyncMemoryClient` use the routes 2.x left behind (`POST /v1/memories/`, `POST /v2/memories/`,
`POST /v2/memories/search/`, `DELETE /v2/entities/{type}/{name}/`), and its adds default to `async_mode=True`,
which a real Celery worker carries out. The clients run in a process of their own (mem0_1x_driver.py), the
package installed by `make install` under `.venv/mem0ai-1x`. No LLM is configured: the offline extractor runs.

Not driven: 1.0.11's `feedback`, which raises TypeError in the client after the server has answered (its
telemetry call passes one argument too many), and `get_summary`, a route outside the contract."""

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.factories import MemorySpaceFactory

MEM0_1X = Path(sys.prefix) / "mem0ai-1x"
DRIVER = Path(__file__).with_name("mem0_1x_driver.py")
MISSING = "00000000-0000-0000-0000-000000000000"


@pytest.fixture(autouse=True)
def no_llm(settings):
    settings.LLM_MODEL = None
    settings.LLM_BASE_URL = None


class ClientError(Exception):
    """What the 1.x client raised, by its class name."""

    def __init__(self, name: str, message: str):
        super().__init__(f"{name}: {message}")
        self.name = name


class Driver:
    """The driver process: one JSON request line out, one reply line in."""

    def __init__(self, process: subprocess.Popen):
        self.process = process
        self.names = itertools.count()

    def request(self, **request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the mem0ai 1.x driver exited with {self.process.wait()}")
        reply = json.loads(line)
        if "error" in reply:
            raise ClientError(reply["error"], reply["message"])
        return reply["result"]

    def client(self, host: str, api_key: str, *, use_async: bool = False) -> "Client":
        name = f"client{next(self.names)}"
        return Client(self, name, self.request(client=name, host=host, api_key=api_key, **{"async": use_async}))


class Client:
    """A 1.x client in the driver: `client.add(...)` calls its `add` there and answers what it returned."""

    def __init__(self, driver: Driver, name: str, made: dict):
        self.driver, self.name = driver, name
        self.version, self.org_id, self.project_id = made["version"], made["org_id"], made["project_id"]

    def __getattr__(self, method: str):
        if method.startswith("_"):  # copy, pickle and the like probe for these: not the client's methods
            raise AttributeError(method)
        return lambda *args, **kwargs: self.driver.request(client=self.name, method=method, args=args,
                                                           kwargs=kwargs)


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    if not (MEM0_1X / "mem0").is_dir():
        raise RuntimeError(f"mem0ai 1.x is not installed in {MEM0_1X}: run `make install`")
    home = tmp_path_factory.mktemp("mem0-1x")
    with open(home / "driver.log", "w") as log:
        process = subprocess.Popen(
            [sys.executable, str(DRIVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
            env={**os.environ, "PYTHONPATH": str(MEM0_1X), "MEM0_TELEMETRY": "False", "MEM0_DIR": str(home)})
    yield Driver(process)
    process.stdin.close()
    process.wait(timeout=30)


def host_of(live_server, space, trailing=""):
    return f"{live_server.url}/api/v2/memory/{space.id}{trailing}"


@pytest.fixture
def client(driver, live_server, api_key, space):
    return driver.client(host_of(live_server, space), api_key)


def add_verbatim(client, text, **ids):
    return client.add([{"role": "user", "content": text}], infer=False, async_mode=False,
                      **(ids or {"user_id": "alice"}))


def wait_for(condition, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not so after {timeout} s")
        time.sleep(0.2)


def test_it_is_the_1x_client_and_its_ping_tells_it_org_and_project(client, space, user):
    assert client.version.startswith("1.")
    assert (client.org_id, client.project_id) == (str(user.tenant_id), str(space.id))


def test_its_default_add_is_queued_then_done_by_the_worker_and_found(celery_worker_process, client):
    queued = client.add("I deploy on Fridays using ArgoCD", user_id="alice")
    assert queued["results"][0]["status"] == "PENDING"
    wait_for(lambda: client.get_all(user_id="alice")["results"])
    for hits in (client.search("when do we deploy", user_id="alice")["results"],
                 client.search("when do we deploy", filters={"user_id": "alice"})["results"]):
        assert "ArgoCD" in hits[0]["memory"] and 0 <= hits[0]["score"] <= 1


def test_a_host_with_a_trailing_slash_works(driver, live_server, api_key, space):
    client = driver.client(host_of(live_server, space, "/"), api_key)
    assert add_verbatim(client, "Likes green tea")["results"][0]["event"] == "ADD"


def test_get_update_history_and_delete(client):
    memory_id = add_verbatim(client, "Lives in Paris", user_id="alice", agent_id="bot")["results"][0]["id"]
    assert client.get(memory_id)["memory"] == "Lives in Paris"
    assert client.update(memory_id, text="Lives in Berlin")["memory"] == "Lives in Berlin"
    assert client.update(memory_id, metadata={"moved": True})["metadata"] == {"moved": True}
    client.delete(memory_id)
    assert client.get(memory_id) is None
    assert [(h["event"], h["old_memory"], h["new_memory"]) for h in client.history(memory_id)] == [
        ("ADD", None, "Lives in Paris"), ("UPDATE", "Lives in Paris", "Lives in Berlin"),
        ("UPDATE", "Lives in Berlin", "Lives in Berlin"), ("DELETE", "Lives in Berlin", None)]


def test_get_all_paginates_newest_first(client):
    ids = [add_verbatim(client, f"note {index}")["results"][0]["id"] for index in range(5)]
    page = client.get_all(user_id="alice", page=1, page_size=2)
    assert page["count"] == 5 and page["next"]
    assert [m["id"] for m in page["results"]] == ids[::-1][:2]


def test_errors_map_to_its_exceptions(client):
    for call in (lambda: client.update(MISSING, text="x"), lambda: client.delete(MISSING)):
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.name == "MemoryNotFoundError"
    for call in (lambda: client.search("x" * 2001, user_id="alice"),
                 lambda: client.get_all(filters={"colour": "red"})):
        with pytest.raises(ClientError) as raised:
            call()
        assert raised.value.name == "ValidationError"


def test_entities_delete_all_and_reset(client):
    add_verbatim(client, "a1", user_id="alice")
    add_verbatim(client, "a2", user_id="alice", agent_id="bot")
    add_verbatim(client, "b1", user_id="bob")
    assert {(e["type"], e["name"], e["total_memories"]) for e in client.users()["results"]} == {
        ("user", "alice", 2), ("agent", "bot", 1), ("user", "bob", 1)}
    client.delete_users(agent_id="bot")
    assert [m["memory"] for m in client.get_all(user_id="alice")["results"]] == ["a1"]
    client.delete_all(user_id="alice")
    assert client.get_all(user_id="alice")["count"] == 0 and client.get_all(user_id="bob")["count"] == 1
    client.reset()  # 1.x deletes each entity it lists
    assert client.get_all(user_id="bob")["count"] == 0 and client.users()["results"] == []


def test_batch_update_and_delete(client):
    a = add_verbatim(client, "first")["results"][0]["id"]
    b = add_verbatim(client, "second")["results"][0]["id"]
    client.batch_update([{"memory_id": a, "text": "first, edited"}, {"memory_id": b, "text": "second, edited"}])
    assert client.get(a)["memory"] == "first, edited"
    with pytest.raises(ClientError) as raised:
        client.batch_delete([{"memory_id": a}, {"memory_id": MISSING}])
    assert raised.value.name == "MemoryNotFoundError" and client.get(a) is not None
    client.batch_delete([{"memory_id": a}, {"memory_id": b}])
    assert client.get(a) is None and client.get(b) is None


def test_export_takes_its_schema_as_a_json_string(client):
    add_verbatim(client, "Allergic to peanuts")
    schema = {"type": "object", "properties": {"memory": {"type": "string"}, "user_id": {"type": "string"}}}
    created = client.create_memory_export(schema=json.dumps(schema), filters={"user_id": "alice"})
    export = client.get_memory_export(memory_export_id=created["id"])
    assert export["memories"] == [{"memory": "Allergic to peanuts", "user_id": "alice"}]


def test_a_second_space_sees_none_of_the_first(driver, live_server, api_key, user, client):
    add_verbatim(client, "Secret of space one")
    other = driver.client(host_of(live_server, MemorySpaceFactory(owner=user)), api_key)
    assert other.get_all(user_id="alice")["count"] == 0
    assert other.search("secret", user_id="alice")["results"] == []


def test_another_tenants_key_is_refused(driver, live_server, other_api_key, space):
    with pytest.raises(ClientError) as raised:
        driver.client(host_of(live_server, space), other_api_key)
    assert raised.value.name == "ValueError" and "not found" in str(raised.value).lower()


def test_the_async_client_does_the_same(driver, live_server, api_key, space):
    client = driver.client(host_of(live_server, space), api_key, use_async=True)
    memory_id = client.add("Drinks oat milk", user_id="alice", infer=False, async_mode=False)["results"][0]["id"]
    assert client.search("milk", user_id="alice")["results"][0]["memory"] == "Drinks oat milk"
    assert client.get(memory_id)["memory"] == "Drinks oat milk"
    client.delete(memory_id)
    assert client.get(memory_id) is None
