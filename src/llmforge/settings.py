"""Settings: each declared once here, with its type, default and help.

Resolution order, last wins: the default below, ``llmforge.toml`` in the project, then the
environment variable ``LLMFORGE_<NAME>`` (dots become underscores, upper case:
``catalog.lock_timeout`` is ``LLMFORGE_CATALOG_LOCK_TIMEOUT``). In the TOML file a setting
``section.key`` lives under ``[section]`` as ``key = value``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

from llmforge.errors import ConfigError
from llmforge.fileio import atomic_write_text

SettingValue = bool | int | float | str


@dataclass(frozen=True)
class Setting:
    """One setting: a dotted name, its Python type, default and a one-line help."""

    name: str
    type: type
    default: SettingValue
    help: str
    choices: tuple[str, ...] = ()
    high: float | None = None      # largest allowed value of a number (all numbers are >= 0)

    @property
    def env_var(self) -> str:
        return "LLMFORGE_" + self.name.replace(".", "_").upper()

    def coerce(self, value: Any, origin: str) -> SettingValue:
        """Check and convert a value from TOML (typed) or the environment (a string)."""
        try:
            converted = _convert(self.type, value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"{origin}: {self.name} must be {_TYPE_WORDS[self.type]}, got {value!r}"
            ) from None
        if self.choices and converted not in self.choices:
            raise ConfigError(
                f"{origin}: {self.name} must be one of {', '.join(self.choices)}, got {value!r}"
            )
        if self.type in (int, float) and not converted >= 0:  # also refuses NaN
            raise ConfigError(f"{origin}: {self.name} must not be negative, got {value!r}")
        if self.high is not None and converted > self.high:
            raise ConfigError(f"{origin}: {self.name} must be at most {self.high:g}, got {value!r}")
        return converted


_TYPE_WORDS = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _convert(kind: type, value: Any) -> SettingValue:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(value)
    if isinstance(value, bool):
        raise TypeError(value)
    if kind is int:
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)
    if kind is float:
        return float(value)
    if not isinstance(value, str):
        raise TypeError(value)
    return value


# Choice lists, each declared once and derived everywhere else (settings below, the stages that
# check their arguments, the CLI's choices, the HTTP API's request models). They live here rather
# than with the stage that owns the concept because settings is core, the lowest layer that offers
# them: every stage and shell may import it, while it may import no stage.
SEARCH_MODES = ("hybrid", "vector", "keyword")
QUERY_LANGUAGES = ("auto", "ara", "eng")            # a search query's language, for keyword analysis
OCR_LANGUAGES = ("auto", "ara", "eng", "ara+eng")   # auto: chosen per page
OCR_MODES = ("auto", "always", "never")
# What `ingest --recursive` leaves out unless told otherwise: licences and source code, which a
# checked-out project or a software archive holds beside its documents and which read as text.
# Licence files by their exact names (a "notice of meeting.pdf" or "licence_agreement.docx" is a
# document, so no prefix globs), and source code.
DEFAULT_INGEST_EXCLUDE = ("LICENSE,LICENSE.txt,LICENSE.md,LICENCE,LICENCE.txt,LICENCE.md,COPYING,COPYING.txt,"
                          "NOTICE,NOTICE.txt,NOTICE.md,*.py,*.pyc,*.js,*.ts,*.c,*.h,*.cc,*.cpp,*.java,"
                          "*.go,*.rs,*.rb,*.php,*.sh,*.bat,*.ps1,*.lock")


SETTINGS: tuple[Setting, ...] = (
    Setting("catalog.lock_timeout", float, 30.0,
            "Seconds to keep retrying when another process holds the DuckDB catalog."),
    Setting("lock.wait", float, 0.0,
            "Default seconds a writing command waits for the project writer lock (--wait)."),
    Setting("blobs.encrypt", bool, False,
            "Encrypt stored originals and extracted text with AES-256-GCM (key in secrets/)."),
    Setting("offline.refuse_network", bool, True,
            "Refuse every connection that is not to loopback, inside the llmforge process."),
    Setting("log.level", str, "info", "Level of the project log file logs/llmforge.log.",
            choices=("debug", "info", "warning", "error")),
    Setting("ingest.workers", int, 0,
            "Documents extracted in parallel, each in its own process (0: one per CPU core, at most 4)."),
    Setting("ingest.ocr", str, "auto",
            "When to OCR: auto (pages without a usable text layer, and images), always, never.",
            choices=OCR_MODES),
    Setting("ingest.lang", str, "auto", "OCR language: auto (chosen per page), ara, eng or ara+eng.",
            choices=OCR_LANGUAGES),
    Setting("ingest.max_file_mb", float, 200.0, "Largest input file accepted, in MB."),
    Setting("ingest.max_pages", int, 2000, "Most pages (or image frames) accepted in one document."),
    Setting("ingest.max_image_pixels", int, 150_000_000,
            "Largest image (width x height) decoded for OCR; bigger ones are refused as possible bombs."),
    Setting("ingest.max_unpacked_mb", float, 500.0,
            "Largest total a DOCX (a ZIP archive) may unpack to, in MB."),
    Setting("ingest.max_zip_ratio", float, 200.0,
            "Highest compression ratio of a large DOCX part before it is refused as a zip bomb."),
    Setting("ingest.include", str, "",
            "Comma-separated globs: only files found in directories that match one are ingested ('': all)."),
    Setting("ingest.exclude", str, DEFAULT_INGEST_EXCLUDE,
            "Comma-separated globs of files found in directories that are not ingested ('': none)."),
    Setting("ingest.timeout", float, 900.0, "Seconds one document's extraction and OCR may take."),
    Setting("ingest.memory_mb", int, 4096, "Address-space limit of each extraction worker process, in MB."),
    Setting("ocr.engine", str, "tesseract", "OCR engine: tesseract, or easyocr where its weights are on disk."),
    Setting("ocr.dpi", int, 300, "Resolution at which PDF pages without a text layer are rendered for OCR."),
    Setting("structure.embedder", str, "use-multilingual",
            "Embedding model: use-multilingual (packaged), or st:/path/to/sentence-transformers-model."),
    Setting("structure.chunk_tokens", int, 60,
            "Largest chunk, in tokens of the embedder's tokenizer (60 measured best on XQuAD, see README)."),
    Setting("structure.overlap", int, 20, "Tokens of trailing sentences repeated at the start of the next chunk."),
    Setting("structure.batch_chunks", int, 256,
            "Chunks embedded and written per batch (bounds memory on large corpora)."),
    Setting("cluster.address", str, "",
            "Ray cluster (HOST:PORT) that ingest and structure send their heavy work to ('': run locally)."),
    Setting("cluster.pages_per_task", int, 8,
            "In cluster mode, a PDF of more pages than this is extracted as Ray tasks of this many pages "
            "(0: one task per document)."),
    Setting("search.mode", str, "hybrid", "Default search mode.", choices=SEARCH_MODES),
    Setting("search.k", int, 5, "Results returned by default."),
    Setting("search.vector_weight", float, 0.4,
            "Weight of the vector score in hybrid search (min-max fusion; the rest is keyword).", high=1.0),
    Setting("search.vector_index_min_rows", int, 50000,
            "Build an IVF-PQ vector index once the table has this many chunks (brute force below)."),
    Setting("search.max_query_chars", int, 2000, "Longest query accepted, in characters."),
    Setting("index.uri", str, "",
            "Where the chunk index lives: '' for the project's lancedb/ folder, or s3://bucket/path on an "
            "S3-compatible store (MinIO, Ceph RGW)."),
    Setting("index.endpoint", str, "", "Endpoint of that S3-compatible store, e.g. http://minio.internal:9000 "
            "(required with an s3:// index.uri)."),
    Setting("index.region", str, "us-east-1", "Region name the S3-compatible store expects."),
    Setting("index.allow_http", bool, False, "Accept a plain http:// index.endpoint (a trusted network only)."),
    Setting("index.credentials_file", str, "",
            "File with the store's aws_access_key_id and aws_secret_access_key (key = value lines), relative to "
            "the project ('': only the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)."),
    Setting("index.keep_versions_minutes", float, 10.0,
            "Index table versions younger than this survive the compaction after structure (a search that "
            "began on an older one fails; 0 only when nothing else reads the index)."),
    Setting("serve.host", str, "127.0.0.1",
            "Address `llmforge serve` binds to (loopback until authentication is configured)."),
    Setting("serve.port", int, 8000, "Port of `llmforge serve`."),
    Setting("serve.metrics_anonymous", bool, False,
            "Let a Prometheus scraper read /metrics without credentials (every other route needs them)."),
    Setting("serve.web", bool, True, "Serve the web page at / (sign in, ask, search, read the cited page, "
            "documents, admin); false: / answers 404 and only the API is served."),
    Setting("serve.max_upload_mb", float, 100.0, "Largest request body (and uploaded file) accepted, in MB."),
    Setting("serve.request_timeout", float, 300.0,
            "Seconds a generation request may wait for the model (then 503) and a stream may run (0: no limit)."),
    Setting("serve.model", str, "qwen2.5-coder-1.5b-instruct",
            "Language model: a packaged one (qwen2.5-coder-1.5b-instruct, qwen2.5-coder-0.5b-instruct, "
            "gemma3-270m) or a .gguf path."),
    Setting("serve.lora", str, "", "A GGUF LoRA adapter applied over serve.model at load ('' for none)."),
    Setting("serve.n_ctx", int, 4096, "Context window of the language model, in tokens."),
    Setting("serve.threads", int, 0, "CPU threads for generation (0: one per core)."),
    Setting("serve.omp_wait_policy", str, "auto",
            "OpenMP wait policy for llama.cpp: auto (PASSIVE when the machine is busy), PASSIVE or ACTIVE.",
            choices=("auto", "PASSIVE", "ACTIVE")),
    Setting("auth.min_password_length", int, 12, "Shortest password accepted for a user, in characters.",
            high=1024),
    Setting("auth.max_failures", int, 5,
            "Failed logins in a row (per user, and per client address) before logins are refused for a while "
            "(0: never)."),
    Setting("auth.lockout_seconds", float, 60.0,
            "First lockout after auth.max_failures, in seconds; it doubles with each further failure, "
            "up to an hour.", high=3600.0),
    Setting("auth.access_token_minutes", float, 15.0, "Lifetime of a signed access token (JWT), in minutes.",
            high=24 * 60.0),
    Setting("auth.refresh_token_days", float, 7.0, "Lifetime of a refresh token, in days.", high=365.0),
    Setting("auth.issuer", str, "", "Issuer (iss) of access tokens ('': llmforge:<project directory name>)."),
    Setting("rag.k", int, 6, "Passages retrieved for an answer."),
    Setting("rag.min_score", float, 0.3,
            "Below this best vector similarity the answer may be 'not in the documents' (no generation)...", high=1.0),
    Setting("rag.min_coverage", float, 0.6,
            "...or below this share of the question's content words found in a passage (both must fail).", high=1.0),
    Setting("rag.min_grounding", float, 0.5,
            "Share of the answer's content words that must appear in the passages, else 'not in the documents'.", high=1.0),
    Setting("rag.min_evidence", float, 0.35,
            "Share of the question's content words that the passages holding the answer must contain, "
            "else 'not in the documents'.", high=1.0),
    Setting("rag.retry_coverage", float, 1.0,
            "When the model finds no answer but a passage holds this share of the question's content words, "
            "it must answer from that document's passages alone (1: all of them; above 1: never).", high=2.0),
    Setting("rag.retry_margin", float, 0.45,
            "When the model finds no answer but no other document's passage scores above this share of the "
            "best passage (hybrid search), it must answer from the best one's document (0: never).", high=1.0),
    Setting("rag.max_tokens", int, 256, "Longest generated answer, in tokens."),
    Setting("train.base", str, "qwen2.5-coder-0.5b-instruct",
            "Base model for fine-tuning: a packaged model name, a Hugging Face model directory or a .gguf path."),
    Setting("train.backend", str, "auto", "Training backend: auto (unsloth on a CUDA GPU where installed, "
            "else peft), unsloth or peft.", choices=("auto", "unsloth", "peft")),
    Setting("train.epochs", float, 1.0, "Passes over the training split (ignored when train.max_steps > 0)."),
    Setting("train.max_steps", int, 0, "Optimizer steps to run (0: as many as train.epochs takes; "
            "--max-steps must be at least 1)."),
    Setting("train.seq_len", int, 256, "Tokens per training sequence (longer examples are cut)."),
    Setting("train.batch_size", int, 1, "Sequences per micro-batch."),
    Setting("train.grad_accum", int, 4, "Micro-batches accumulated per optimizer step."),
    Setting("train.lr", float, 2e-4, "Peak learning rate (linear warm-up, then linear decay)."),
    Setting("train.warmup_steps", int, 5, "Warm-up steps of the learning rate (at most a quarter of the run; "
            "the first step already trains)."),
    Setting("train.lora_r", int, 16, "LoRA rank."),
    Setting("train.lora_alpha", int, 32, "LoRA alpha (scale = alpha / r)."),
    Setting("train.lora_dropout", float, 0.05, "Dropout on the LoRA path.", high=1.0),
    Setting("train.checkpoint_steps", int, 50, "Save a resumable checkpoint every this many steps."),
    Setting("train.eval_fraction", float, 0.1,
            "Share of documents held out for evaluation when a dataset is built.", high=1.0),
    Setting("train.seed", int, 0, "Random seed of splits, LoRA initialisation and data order."),
    Setting("train.eval_sample", int, 16,
            "Held-out sequences, spread over the eval split, on which a run and `train eval` measure the base, "
            "the parent and the fine-tuned model alike (0: all of them; --full-eval)."),
    Setting("train.llama_cpp_source", str, "",
            "llama-cpp-python source archive (or unpacked llama.cpp folder) holding the GGUF converters "
            "('' : look in the wheel cache that scripts/setup.sh fills)."),
    Setting("audit.flush_seconds", float, 1.0,
            "Seconds between the server's writes of buffered audit records to the catalog.", high=60.0),
    Setting("audit.flush_records", int, 200, "Buffered audit records that trigger a write before the interval."),
    Setting("ratelimit.key_per_minute", int, 600, "Requests per minute of one API key (0: no limit)."),
    Setting("ratelimit.key_burst", int, 60,
            "Requests one API key may make at once before its per-minute rate applies."),
    Setting("ratelimit.user_per_minute", int, 1200, "Requests per minute of one user, all its keys and tokens together "
            "(0: no limit)."),
    Setting("ratelimit.user_burst", int, 120, "Requests one user may make at once before its per-minute rate applies."),
    Setting("ratelimit.ip_per_minute", int, 120,
            "Unauthenticated and failed requests per minute from one client address (IPv6: one /64) (0: no limit)."),
    Setting("ratelimit.ip_burst", int, 30, "Unauthenticated and failed requests one client address may make at once."),
    Setting("ratelimit.generation_tokens_per_minute", int, 10000,
            "Generated tokens per minute of one caller, its burst a minute's worth (0: no limit)."),
    Setting("ratelimit.max_concurrent_generations", int, 2, "Generations one caller may run at once (0: no limit)."),
)

_BY_NAME = {setting.name: setting for setting in SETTINGS}


def get_setting(name: str) -> Setting:
    """The declaration of a setting; a clear error for an unknown name."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise ConfigError(f"unknown setting {name!r} (see `llmforge config show`)") from None


class Settings(Mapping[str, SettingValue]):
    """Resolved settings of one project: values and where each came from."""

    def __init__(self, values: dict[str, SettingValue], sources: dict[str, str]) -> None:
        self._values = values
        self._sources = sources

    def __getitem__(self, name: str) -> SettingValue:
        get_setting(name)
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def source(self, name: str) -> str:
        """``default``, ``llmforge.toml`` or the environment variable that set the value."""
        get_setting(name)
        return self._sources[name]


def load_settings(toml_path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Resolve every setting from defaults, the TOML file (if any) and the environment."""
    environ = os.environ if environ is None else environ
    values: dict[str, SettingValue] = {s.name: s.default for s in SETTINGS}
    sources = {s.name: "default" for s in SETTINGS}
    if toml_path is not None and toml_path.exists():
        for name, value in read_toml_settings(toml_path).items():
            values[name] = value
            sources[name] = toml_path.name
    for setting in SETTINGS:
        raw = environ.get(setting.env_var)
        if raw is not None:
            values[setting.name] = setting.coerce(raw, setting.env_var)
            sources[setting.name] = setting.env_var
    return Settings(values, sources)


def read_toml_settings(path: Path) -> dict[str, SettingValue]:
    """Parse and validate a settings file; errors name the file and, where known, the line."""
    try:
        text = path.read_text(encoding="utf-8")
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    found: dict[str, SettingValue] = {}
    for name, value in _flatten(document):
        where = f"{path}:{_line_of(text, name)}"
        if name not in _BY_NAME:
            raise ConfigError(f"{where}: unknown setting {name!r} (see `llmforge config show`)")
        found[name] = _BY_NAME[name].coerce(value, where)
    return found


def _flatten(table: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten(value, name + ".")
        else:
            yield name, value


def _line_of(text: str, name: str) -> int | str:
    """Best-effort line number of ``key =`` for a dotted setting name."""
    section, _, key = name.rpartition(".")
    in_section = section == ""
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        header = re.fullmatch(r"\[\s*([^\]]+?)\s*\]", stripped)
        if header:
            in_section = header.group(1) == section
        elif in_section and re.match(rf"{re.escape(key)}\s*=", stripped):
            return number
        elif section and re.match(rf"{re.escape(name)}\s*=", stripped):
            return number
    return "?"


def write_setting(path: Path, name: str, raw_value: str) -> SettingValue:
    """Validate ``raw_value`` for ``name`` and store it in the TOML file, keeping comments."""
    setting = get_setting(name)
    value = setting.coerce(raw_value, "config set")
    read_toml_settings(path)  # refuse to edit a file that is already broken
    document = tomlkit.parse(path.read_text(encoding="utf-8"))
    section, _, key = name.rpartition(".")
    table = document
    for part in section.split(".") if section else ():
        if part not in table:
            table[part] = tomlkit.table()
        table = table[part]
    table[key] = value
    atomic_write_text(path, tomlkit.dumps(document))
    return value


def default_toml() -> str:
    """A new project's llmforge.toml: every setting, commented out at its default."""
    lines = ["# llmforge project settings. Uncomment a line to change it;",
             "# LLMFORGE_<NAME> environment variables override this file.", ""]
    current = None
    for setting in SETTINGS:
        section, _, key = setting.name.rpartition(".")
        if section != current:
            lines += ["", f"[{section}]"] if current is not None else [f"[{section}]"]
            current = section
        lines.append(f"# {setting.help}")
        lines.append(f"# {key} = {tomlkit.item(setting.default).as_string()}")
    return "\n".join(lines) + "\n"
