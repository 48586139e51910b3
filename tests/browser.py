"""Headless Chromium for the browser tests: Debian's `chromium` and `chromium-driver`, installed here when they
are missing, driven by Selenium through /usr/bin/chromedriver (never a driver or browser Selenium downloads).

`AdminBrowser.visit` checks a page the way a person would see it: the HTTP status of the document and of
everything it loaded (from Chromium's network log), the page's heading and text, no error page, and no
severe message on the browser's console; then it saves a full-page screenshot."""

import base64
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PACKAGES = ["chromium", "chromium-driver"]
APT_TIMEOUT = 900  # seconds for each apt-get command

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1400,1000", "--lang=en-US",
]

# What Django and the browser show instead of the page asked for.
ERROR_MARKERS = ["Server Error", "Page not found", "Not Found", "Forbidden", "Bad Request", "Traceback",
                 "Exception Value", "Request Method:", "TemplateSyntaxError", "You're seeing this error"]


def _installed() -> bool:
    return all(os.access(path, os.X_OK) for path in (CHROMIUM, CHROMEDRIVER))


def ensure_chromium() -> None:
    """Install Debian's chromium and chromium-driver if either is missing (as root, non-interactively);
    fail the test with apt-get's own words if that does not work."""
    if _installed():
        return
    if os.geteuid() != 0:
        pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} is missing and this run is not root, so it cannot install "
                    f"them: run `apt-get update && apt-get install -y {' '.join(PACKAGES)}` as root.", pytrace=False)
    if shutil.which("apt-get") is None:
        pytest.fail(f"{CHROMIUM} or {CHROMEDRIVER} is missing and there is no apt-get to install "
                    f"{' '.join(PACKAGES)} with.", pytrace=False)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    lock = ["-o", "DPkg::Lock::Timeout=300"]  # wait for another apt-get rather than fail at once
    for command in (["apt-get", *lock, "update"], ["apt-get", *lock, "install", "-y", *PACKAGES]):
        try:
            done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  timeout=APT_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"installing Chromium failed: `{' '.join(command)}` took over {APT_TIMEOUT} s",
                        pytrace=False)
        if done.returncode != 0:
            output = (done.stdout + done.stderr)[-4000:]
            pytest.fail(f"installing Chromium failed: `{' '.join(command)}` exited with {done.returncode}:\n"
                        f"{output}", pytrace=False)
    if not _installed():
        pytest.fail(f"`apt-get install {' '.join(PACKAGES)}` succeeded but {CHROMIUM} or {CHROMEDRIVER} is "
                    "still missing", pytrace=False)


def start_chromium(log_dir: Path):
    """A headless Chromium driven by /usr/bin/chromedriver, logging the console and the network."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-', dir=log_dir)}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver_log = log_dir / "chromedriver.log"
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(driver_log))
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except Exception as exc:
        log = driver_log.read_text(errors="replace")[-3000:] if driver_log.exists() else ""
        pytest.fail(f"Chromium did not start: {exc}\n{log}", pytrace=False)
    driver.set_page_load_timeout(30)
    return driver


class AdminBrowser:
    """Visits pages of one live server and checks each; screenshots go to `shots`, numbered in visit order."""

    def __init__(self, driver, base_url: str, shots: Path):
        self.driver, self.base_url, self.shots = driver, base_url, shots
        self.screenshots: list[Path] = []
        shots.mkdir(parents=True, exist_ok=True)
        for old in shots.glob("[0-9][0-9]-*.png"):
            old.unlink()

    def get(self, path: str) -> None:
        self._drain()
        self.driver.get(urljoin(self.base_url, path))

    def follow(self, element, keys: str | None = None) -> None:
        """Click a link or a submit button (or type `keys` into a field, Enter say) and wait until the page it
        leads to has replaced this one."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions
        from selenium.webdriver.support.wait import WebDriverWait

        self._drain()
        page = self.driver.find_element(By.TAG_NAME, "html")
        if keys is None:
            element.click()
        else:
            element.send_keys(keys)
        WebDriverWait(self.driver, 30).until(expected_conditions.staleness_of(page))

    def _drain(self) -> None:
        """Forget what earlier pages logged."""
        self.driver.get_log("browser")
        self.driver.get_log("performance")

    def page_text(self) -> str:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.TAG_NAME, "body").text

    def check(self, name: str, *, path: str | None = None, heading: str | None = None,
              texts: tuple[str, ...] = (), user: str | None = None) -> str:
        """Check the page the browser shows now, after `get` or a click, then screenshot it as `NN-name.png`.
        Returns the page's visible text."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.wait import WebDriverWait

        driver = self.driver
        WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")
        url = driver.current_url
        where = f"{name} ({url})"
        if path is not None:
            assert urlsplit(url).path == path, f"{where}: expected {path} (a redirect to the login page?)"
        # HTTP: the document answered 200, and nothing it loaded failed.
        documents, failures = self._responses()
        assert documents, f"{where}: Chromium saw no document response"
        assert documents[-1][1] == 200, f"{where}: the page answered HTTP {documents[-1][1]}"
        assert not failures, f"{where}: some of what the page loaded failed: {failures}"
        # What the page shows.
        title, text = driver.title, self.page_text()
        for marker in ERROR_MARKERS:
            assert marker not in title and marker not in text, f"{where}: {marker!r} on the page:\n{text[:2000]}"
        if heading is not None:
            h1 = driver.find_element(By.CSS_SELECTOR, "#content h1").text
            assert h1 == heading, f"{where}: heading {h1!r}, expected {heading!r}"
        if user is not None:
            tools = driver.find_element(By.ID, "user-tools").text
            assert user.upper() in tools.upper(), f"{where}: not logged in as {user}: {tools!r}"
        for expected in texts:  # as shown, but the admin's CSS upper-cases some captions
            assert expected.casefold() in text.casefold(), f"{where}: {expected!r} not on the page:\n{text[:3000]}"
        # The console: nothing severe (a missing favicon is not the admin's concern).
        severe = [entry["message"] for entry in driver.get_log("browser")
                  if entry["level"] == "SEVERE" and "favicon.ico" not in entry["message"]]
        assert not severe, f"{where}: severe messages on the browser console: {severe}"
        self._screenshot(name)
        return text

    def _responses(self) -> tuple[list[tuple[str, int]], list[str]]:
        """From the network log since the last `get`: (url, status) of each document response, and every
        response of 400 or more or request that failed (favicons aside)."""
        documents, failures = [], []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message.get("method") == "Network.responseReceived":
                response = params["response"]
                if "favicon.ico" in response["url"]:
                    continue
                if params.get("type") == "Document":
                    documents.append((response["url"], response["status"]))
                if response["status"] >= 400:
                    failures.append(f"{response['status']} {response['url']}")
            elif message.get("method") == "Network.loadingFailed" and not params.get("canceled"):
                failures.append(f"{params.get('errorText')} ({params.get('type')})")
        return documents, failures

    def _screenshot(self, name: str) -> None:
        """The whole page, not only the window (capped at 6000 CSS pixels high)."""
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 6000), "scale": 1}
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot",
                                           {"format": "png", "captureBeyondViewport": True, "clip": clip})
        path = self.shots / f"{len(self.screenshots) + 1:02d}-{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        self.screenshots.append(path)
