"""The admin in a real browser: headless Chromium (Debian's package, installed by `tests/browser.py` when it is
missing) logs into /admin/ on a live server and opens the pages an operator uses, checking each and saving a
screenshot of it under bench/results/admin/."""

from datetime import timedelta
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from lifecycle import services as lifecycle
from mem0_compat.services import memory_add
from memoryspaces.models import User
from sessions_app.services import event_append_batch
from tests.browser import AdminBrowser, ensure_chromium, start_chromium
from tests.factories import MemorySpaceFactory, TenantFactory, make_api_key, make_session

SHOTS = Path(__file__).resolve().parent.parent / "bench" / "results" / "admin"
PASSWORD = "browser-test-Pa55word"
CONTENTS = ["Hello, my deployment is failing", "Which cluster do you deploy to?", "prod-eu, with ArgoCD"]
FACT = "I deploy on Fridays using ArgoCD"


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    """Headless Chromium with its driver, installed first if missing; both stopped after the tests."""
    ensure_chromium()
    driver = start_chromium(tmp_path_factory.mktemp("chromium"))
    yield driver
    driver.quit()


@pytest.fixture
def operator(transactional_db):
    """A superuser and what the admin shows: a space, a session with events and strategies, one of which has
    fired (a strategy execution), a memory with its history, and an API key."""
    tenant = TenantFactory(name="acme")
    admin = User.objects.create_superuser("operator", "operator@example.com", PASSWORD, tenant=tenant)
    space = MemorySpaceFactory(owner=admin, description="Acme support assistant")
    session = make_session(space, description="Deployment troubleshooting", strategies=[
        {"type": "extract_memories", "trigger": {"ttl": 1}},
        {"type": "soft_delete", "trigger": {"idle": 86400}},
    ])
    event_append_batch(session=session, events=[
        {"body": {"content": content}, "emitter": {"type": emitter, "id": f"{emitter}-1"}, "event_type": "message"}
        for content, emitter in zip(CONTENTS, ["user", "agent", "user"], strict=True)
    ])
    (execution_id,) = lifecycle.sweep(now=session.created_at + timedelta(seconds=5)).fired
    (added,) = memory_add(space=space, messages=[{"role": "user", "content": FACT}], scope={"user_id": "alice"},
                          infer=False)
    key = make_api_key(admin)
    return {"space": space, "session": session, "execution_id": execution_id, "memory_id": added["id"],
            "key_prefix": key.removeprefix("mem_")[:8]}


@pytest.mark.timeout(1200)  # a first run installs Chromium (apt-get) before the minute the test itself takes
def test_an_operator_goes_through_the_admin_in_a_browser(chromium, live_server, operator):
    browser = AdminBrowser(chromium, live_server.url, SHOTS)
    space, session = operator["space"], operator["session"]
    space_path = f"/admin/memoryspaces/memoryspace/{space.pk}/change/"
    session_path = f"/admin/sessions_app/session/{session.pk}/change/"
    memory_path = f"/admin/mem0_compat/memory/{operator['memory_id']}/change/"
    execution_path = f"/admin/lifecycle/strategyexecution/{operator['execution_id']}/change/"
    user = "operator"

    # Logging in through the form.
    browser.get("/admin/")
    browser.check("login", path="/admin/login/", texts=("Username:", "Password:"))
    chromium.find_element(By.ID, "id_username").send_keys(user)
    chromium.find_element(By.ID, "id_password").send_keys(PASSWORD)
    browser.follow(chromium.find_element(By.CSS_SELECTOR, "#login-form [type=submit]"))
    browser.check("index", path="/admin/", heading="Site administration", user=user, texts=(
        "Tenants, API keys and memory spaces", "Sessions and events", "Long-term memory (mem0-compatible)",
        "Session lifecycle", "Memory spaces", "Strategy executions",
    ))

    # The space.
    browser.get("/admin/memoryspaces/memoryspace/")
    browser.check("spaces", heading="Select memory space to change", user=user,
                  texts=("Acme support assistant", "acme", "operator"))
    browser.follow(chromium.find_element(By.LINK_TEXT, str(space.pk)))
    browser.check("space", path=space_path, heading="Change memory space", user=user,
                  texts=("Acme support assistant", str(space.pk)))

    # The session: its newest events and its strategies, one of which has run.
    browser.get(session_path)
    browser.check("session", path=session_path, heading="Change session", user=user,
                  texts=(*CONTENTS, "pending (attempts 0)", "All events of this session"))
    strategies = chromium.execute_script(  # read-only: shown as text, in rows of the inline's table
        "return [...document.querySelectorAll('#strategies-group tr.form-row')].map(row => "
        "['type', 'trigger', 'threshold'].map(f => row.querySelector(`td.field-${f}`).innerText.trim()))")
    assert strategies == [["Extract Memories", "Ttl", "1"], ["Soft Delete", "Idle", "86400"]]
    browser.follow(chromium.find_element(By.PARTIAL_LINK_TEXT, "pending (attempts 0)"))
    browser.check("execution", path=execution_path, heading="View strategy execution", user=user,
                  texts=("pending", str(session.pk)))

    browser.get(f"/admin/sessions_app/event/?session__id__exact={session.pk}")
    browser.check("events", path="/admin/sessions_app/event/", heading="Select event to change", user=user,
                  texts=CONTENTS)

    # Memories: the list, a search through the admin's search box, one memory with its history, entities.
    browser.get("/admin/mem0_compat/memory/")
    browser.check("memories", heading="Select memory to change", user=user, texts=(FACT, "alice"))
    search = chromium.find_element(By.ID, "searchbar")
    search.send_keys("when do we deploy")
    browser.follow(search, Keys.ENTER)
    browser.check("memory-search", path="/admin/mem0_compat/memory/", heading="Select memory to change", user=user,
                  texts=(FACT,))
    assert chromium.find_element(By.ID, "searchbar").get_attribute("value") == "when do we deploy"
    assert chromium.find_elements(By.CSS_SELECTOR, "th.column-score"), "the search shows no score column"
    browser.follow(chromium.find_element(By.LINK_TEXT, FACT))
    browser.check("memory", path=memory_path, heading="Change memory", user=user, texts=(FACT, "ADD", "alice"))

    browser.get(f"/admin/mem0_compat/memory/entities/?space={space.pk}")
    browser.check("entities", path="/admin/mem0_compat/memory/entities/", heading=f"Entities of {space}",
                  user=user, texts=("alice",))

    # Lifecycle, keys, tenants and users.
    browser.get("/admin/lifecycle/strategyexecution/")
    browser.check("executions", heading="Select strategy execution to view", user=user,
                  texts=(str(operator["execution_id"]), "Deployment troubleshooting", "pending"))
    browser.get("/admin/memoryspaces/apikey/")
    browser.check("api-keys", heading="Select API key to change", user=user,
                  texts=(operator["key_prefix"], "create_api_key"))
    browser.get("/admin/memoryspaces/tenant/")
    browser.check("tenants", heading="Select tenant to change", user=user, texts=("acme",))
    browser.get("/admin/memoryspaces/user/")
    browser.check("users", heading="Select user to change", user=user, texts=("operator", "acme"))

    assert [path.name for path in browser.screenshots] == [
        f"{n:02d}-{name}.png" for n, name in enumerate(
            ["login", "index", "spaces", "space", "session", "execution", "events", "memories", "memory-search",
             "memory", "entities", "executions", "api-keys", "tenants", "users"], start=1)
    ]
    assert all(path.stat().st_size > 10_000 for path in browser.screenshots)
