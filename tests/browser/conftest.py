"""Playwright driving Debian's chromium against a real ``llmforge serve`` on a loopback port.

Playwright's own browser download is not reachable here, so the system ``chromium`` is launched
by path; without it, or without the ``playwright`` package, these tests skip. When a test fails,
every page it opened is photographed into ``test-artifacts/browser/`` (the paths are printed).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# air gap: a browser that asks nobody for anything
QUIET_ARGS = ["--disable-background-networking", "--disable-component-update", "--disable-sync",
              "--no-first-run", "--disable-default-apps", "--disable-features=Translate,MediaRouter,OptimizationHints"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="module")   # not the session: Playwright's sync API keeps an asyncio loop running in
def browser() -> Iterator[Any]:      # this thread while it is open, and later tests call asyncio.run()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (scripts/setup.sh)")
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs Debian's package)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=QUIET_ARGS)
        yield launched
        launched.close()


class Pages:
    """Opens browser pages; remembers each with the dialogs it raised and the errors it logged."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.opened: list[Any] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []

    def new(self, url: str, *, locale: str = "en-GB", width: int = 1100, height: int = 800, **options: Any) -> Any:
        context = self.browser.new_context(locale=locale, viewport={"width": width, "height": height},
                                           accept_downloads=True, **options)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("dialog", lambda dialog: (self.dialogs.append(dialog.message), dialog.dismiss()))
        page.on("console", lambda message: self.errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.goto(url)
        self.opened.append(page)
        return page

    def screenshots(self, name: str) -> list[Path]:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        paths = []
        stem = re.sub(r"[^\w.-]+", "_", name)
        for number, page in enumerate(self.opened, start=1):
            path = ARTIFACTS / f"{stem}-{number}.png"
            try:
                page.screenshot(path=str(path), full_page=True)
                paths.append(path)
            except Exception:  # noqa: BLE001 — a page that died leaves no picture
                continue
        return paths


@pytest.fixture
def pages(browser: Any, request: pytest.FixtureRequest) -> Iterator[Pages]:
    opened = Pages(browser)
    yield opened
    call = getattr(request.node, "report_call", None)
    if call is not None and call.failed:
        for path in opened.screenshots(request.node.name):
            print(f"screenshot of the failed test: {path}")
    for page in opened.opened:
        page.context.close()


def sign_in(page: Any, user: str, password: str) -> None:
    page.fill("#signin-user", user)
    page.fill("#signin-password", password)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#view-ask:not([hidden])")
