"""The example app in headless Chromium (Debian's ``chromium`` and ``chromium-driver``, as the
Rust demo's browser test uses): two browsers sign in, one lists its devices and signs the
other out. WebDriver is spoken over HTTP with the standard library (the W3C protocol needs
no more). Skipped when Chromium or chromedriver is missing, or SESSIONVAULT_SKIP_SERVICES
names ``browser`` (./scripts/test.sh sets it then, as for the Rust browser tests)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port, stop, wait_for_port

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "app.py"
CHROMIUM = os.environ.get("SESSIONVAULT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SESSIONVAULT_CHROMEDRIVER") or shutil.which("chromedriver")
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"


def skipped() -> bool:
    wanted = [s.strip() for s in os.environ.get("SESSIONVAULT_SKIP_SERVICES", "").split(",")]
    return "browser" in wanted or not (Path(CHROMIUM).exists() and CHROMEDRIVER)


pytestmark = pytest.mark.skipif(skipped(), reason="no Chromium/chromedriver (./scripts/test.sh)")


class Browser:
    """One WebDriver session: a browser with a profile of its own (a device)."""

    def __init__(self, driver: str, profile: Path) -> None:
        self.driver = driver
        args = [
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--window-size=1100,820",
            f"--user-data-dir={profile}",
        ]
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}}
        self.id = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.driver + path, data=data, method=method,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["value"]

    def _session(self, method: str, path: str, body: dict | None = None):
        return self._call(method, f"/session/{self.id}{path}", body)

    def goto(self, url: str) -> None:
        self._session("POST", "/url", {"url": url})

    def url(self) -> str:
        return self._session("GET", "/url")

    def find_all(self, css: str) -> list[str]:
        found = self._session("POST", "/elements", {"using": "css selector", "value": css})
        return [e[ELEMENT] for e in found]

    def wait(self, check, what: str, timeout: float = 15.0):
        """Polls ``check`` until it returns something true: a click's navigation may still be
        loading when WebDriver answers."""
        deadline = time.monotonic() + timeout
        while True:
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{what} on {self.url()}")
            time.sleep(0.05)

    def find(self, css: str) -> str:
        return self.wait(lambda: self.find_all(css), f"no {css}")[0]

    def wait_for_path(self, path: str) -> None:
        self.wait(lambda: self.url().split("?")[0].endswith(path), f"not at {path}")

    def type(self, css: str, text: str) -> None:
        self._session("POST", f"/element/{self.find(css)}/value", {"text": text})

    def click(self, css: str) -> None:
        self._session("POST", f"/element/{self.find(css)}/click", {})

    def text(self, css: str) -> str:
        return self._session("GET", f"/element/{self.find(css)}/text")

    def quit(self) -> None:
        try:
            self._session("DELETE", "")
        except OSError:
            pass


@pytest.fixture
def driver():
    port = free_port()
    proc = subprocess.Popen(
        [CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_for_port(port, proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


@pytest.fixture
def example_server(tmp_path):
    port = free_port()
    instance = tmp_path / "instance"
    proc = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", str(EXAMPLE), "run", "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, "SESSIONVAULT_EXAMPLE_INSTANCE": str(instance)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        yield f"http://localhost:{port}"
    finally:
        stop(proc)


def sign_in(browser: Browser, base: str) -> None:
    browser.goto(f"{base}/login")
    browser.type("input[name=username]", "alice")
    browser.type("input[name=password]", "correct horse battery staple")
    browser.click("form.card button")
    browser.wait_for_path("/devices")


def test_sign_in_list_devices_and_sign_one_out(driver, example_server, tmp_path):
    laptop = Browser(driver, tmp_path / "laptop")
    phone = Browser(driver, tmp_path / "phone")
    try:
        sign_in(laptop, example_server)
        sign_in(phone, example_server)
        assert phone.text("#user") == "alice"

        laptop.goto(f"{example_server}/devices")
        assert len(laptop.find_all("tbody tr")) == 2
        laptop.click("tbody form button")  # the other device's "Sign out"
        assert "That device is signed out." in laptop.text(".flash")
        assert len(laptop.find_all("tbody tr")) == 1

        phone.goto(f"{example_server}/devices")
        phone.wait_for_path("/login")
        laptop.goto(f"{example_server}/devices")
        assert laptop.text("h1") == "Devices"
    finally:
        laptop.quit()
        phone.quit()
