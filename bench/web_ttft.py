"""The web page's time to first answer text, against the HTTP API's time to first token.

    .venv/bin/python bench/web_ttft.py [--model qwen2.5-coder-0.5b-instruct] [--rounds 3] [--json]

One server on a loopback port serves a small project (three documents: English, Arabic, and one
full of markup; tests/serve/web_project.py) with a real model. For the same questions (one English,
one Arabic), in the same run and alternating which goes first:

* API: ``POST /v1/ask`` with ``"stream": true`` over httpx, signed in like the page; the time from
  sending the request to the first ``delta`` event;
* browser: Debian's chromium through Playwright, signed in on the page; the time from pressing Ask
  (the button's click, in the page's clock) to the first answer text in the answer box.

Both include retrieval and the prompt's processing; the browser adds its fetch, the stream's
decoding and the DOM update. llama.cpp reuses the previous prompt's common beginning, so before
each measurement another question of the same language is asked (not counted): both sides start
from the same cache. A first question, not counted, loads the model. The ratio is the median
browser time over the median API time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

# asked before each measurement, so the API and the page start from the same prompt cache
OTHER_QUESTION = {"en": "What is the gate valve torque?", "ar": "أين تُحفظ سجلات المناوبة؟"}
FIRST_TEXT_AFTER_ASK = """() => new Promise(resolve => {
  const text = document.getElementById('answer-text');
  let start = 0;
  const watch = new MutationObserver(() => {
    if (text.textContent.length) { watch.disconnect(); resolve(performance.now() - start); }
  });
  watch.observe(text, {childList: true, characterData: true, subtree: true});
  start = performance.now();
  document.getElementById('ask-button').click();
})"""


def api_first_token_ms(base: str, token: str, question: str) -> float:
    """Milliseconds from sending a streamed ask to its first piece of answer."""
    import httpx

    started = time.perf_counter()
    with httpx.stream("POST", f"{base}/v1/ask", json={"question": question, "stream": True},
                      headers={"Authorization": f"Bearer {token}"}, timeout=600) as response:
        response.raise_for_status()
        first = None
        for line in response.iter_lines():
            if first is None and line.startswith("data: ") and json.loads(line[6:])["type"] in ("delta", "answer"):
                first = (time.perf_counter() - started) * 1000
    return first if first is not None else float("nan")


def browser_first_text_ms(page: Any, question: str) -> float:
    """Milliseconds from pressing Ask on the page to the first answer text, then wait for the end."""
    page.fill("#ask-question", question)
    elapsed = page.evaluate(FIRST_TEXT_AFTER_ASK)
    page.wait_for_selector("#citations li, #answer.is-refused", timeout=600_000)
    page.wait_for_function("() => !document.getElementById('ask-button').disabled", timeout=600_000)
    return float(elapsed)


def run(model: str, rounds: int) -> dict[str, Any]:
    import httpx
    from playwright.sync_api import sync_playwright

    from tests.serve.live import live_server
    from tests.serve.web_project import PASSWORDS, QUESTIONS, make_project

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium is not installed (scripts/setup.sh installs it)")
    questions = {"en": QUESTIONS["en"], "ar": QUESTIONS["ar"]}
    times: dict[str, dict[str, list[float]]] = {lang: {"api": [], "browser": []} for lang in questions}
    with tempfile.TemporaryDirectory() as folder:
        project = make_project(Path(folder), {"serve.model": model})
        with live_server(project) as base, sync_playwright() as playwright:
            login = httpx.post(f"{base}/v1/auth/login", json={"username": "analyst", "password": PASSWORDS["analyst"]})
            token = login.json()["access_token"]
            api_first_token_ms(base, token, OTHER_QUESTION["en"])   # loads the model: not counted
            browser = playwright.chromium.launch(executable_path=chromium)
            page = browser.new_page()
            page.goto(base)
            page.fill("#signin-user", "analyst")
            page.fill("#signin-password", PASSWORDS["analyst"])
            page.click("#signin-form button[type=submit]")
            page.wait_for_selector("#view-ask:not([hidden])")
            for number in range(rounds):
                for lang, question in questions.items():
                    order = ("api", "browser") if number % 2 == 0 else ("browser", "api")
                    for side in order:
                        api_first_token_ms(base, token, OTHER_QUESTION[lang])
                        measured = (api_first_token_ms(base, token, question) if side == "api"
                                    else browser_first_text_ms(page, question))
                        times[lang][side].append(measured)
                        print(f"round {number + 1} {lang} {side:7s} {measured:8.1f} ms", file=sys.stderr)
            browser.close()
    api = [t for lang in times.values() for t in lang["api"]]
    web = [t for lang in times.values() for t in lang["browser"]]
    return {"model": model, "rounds": rounds, "ms": times,
            "median_api_ms": statistics.median(api), "median_browser_ms": statistics.median(web),
            "ratio": statistics.median(web) / statistics.median(api)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct", help="a served model (packaged name)")
    parser.add_argument("--rounds", type=int, default=3, help="times each question is asked on each side")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    result = run(args.model, args.rounds)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"model {result['model']}, {result['rounds']} rounds, time to the first answer text (median ms)")
    for lang, sides in result["ms"].items():
        print(f"  {lang}: API {statistics.median(sides['api']):7.1f}   browser {statistics.median(sides['browser']):7.1f}")
    print(f"  all: API {result['median_api_ms']:7.1f}   browser {result['median_browser_ms']:7.1f}   "
          f"ratio browser/API {result['ratio']:.2f}")


if __name__ == "__main__":
    main()
