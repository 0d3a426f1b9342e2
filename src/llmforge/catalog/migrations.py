"""Named, append-only catalog migrations.

Never edit or reorder a migration that has shipped: add a new one at the end. Each runs once, in
its own transaction, and is recorded by name in ``_migrations``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "001_jobs",
        """
        CREATE TABLE jobs (
            id          VARCHAR PRIMARY KEY,
            kind        VARCHAR NOT NULL,
            state       VARCHAR NOT NULL,
            pid         INTEGER,
            created_at  TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            started_at  TIMESTAMPTZ,
            finished_at TIMESTAMPTZ,
            progress    DOUBLE,
            message     VARCHAR,
            params      JSON,
            result      JSON
        );
        """,
    ),
    Migration(
        "002_documents",
        """
        CREATE TABLE documents (
            id           VARCHAR PRIMARY KEY,
            source_path  VARCHAR NOT NULL,
            version      INTEGER NOT NULL,
            status       VARCHAR NOT NULL,          -- ingested | failed
            error        VARCHAR,
            sha256       VARCHAR NOT NULL,
            size         BIGINT,
            kind         VARCHAR,                   -- pdf | docx | text | image
            mime         VARCHAR,
            title        VARCHAR,
            author       VARCHAR,
            created      VARCHAR,
            page_count   INTEGER,
            languages    VARCHAR[],
            text_sha256  VARCHAR,
            notes        VARCHAR[],
            metadata     JSON,
            ingested_at  TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        CREATE INDEX documents_sha256 ON documents (sha256);
        CREATE INDEX documents_path ON documents (source_path);
        CREATE TABLE pages (
            document_id    VARCHAR NOT NULL,
            page_no        INTEGER NOT NULL,
            text           VARCHAR NOT NULL,
            search_text    VARCHAR NOT NULL,
            method         VARCHAR NOT NULL,        -- text-layer | ocr:<engine> | docx | text | none
            ocr_confidence DOUBLE,
            language       VARCHAR,
            deskew_angle   DOUBLE,
            chars          INTEGER NOT NULL,
            PRIMARY KEY (document_id, page_no)
        );
        """,
    ),
    Migration(
        "003_structure",
        """
        CREATE TABLE chunks (
            id          VARCHAR PRIMARY KEY,        -- <document id>:<seq>
            document_id VARCHAR NOT NULL,
            seq         INTEGER NOT NULL,
            page_start  INTEGER NOT NULL,
            page_end    INTEGER NOT NULL,
            char_start  INTEGER NOT NULL,           -- offset into page_start's text
            char_end    INTEGER NOT NULL,           -- offset into page_end's text
            tokens      INTEGER NOT NULL,
            heading     VARCHAR,
            language    VARCHAR,
            text        VARCHAR NOT NULL
        );
        CREATE INDEX chunks_document ON chunks (document_id);
        CREATE TABLE entities (
            document_id VARCHAR NOT NULL,
            chunk_id    VARCHAR,
            page_no     INTEGER NOT NULL,
            start_char  INTEGER NOT NULL,           -- offsets into the page's text
            end_char    INTEGER NOT NULL,
            type        VARCHAR NOT NULL,
            text        VARCHAR NOT NULL,
            value       VARCHAR,
            confidence  DOUBLE
        );
        CREATE INDEX entities_document ON entities (document_id);
        CREATE INDEX entities_type ON entities (type);
        CREATE TABLE vector_index (
            name             VARCHAR PRIMARY KEY,
            embedder         VARCHAR NOT NULL,
            embedder_version VARCHAR NOT NULL,
            dim              INTEGER NOT NULL,
            chunk_tokens     INTEGER NOT NULL,
            overlap          INTEGER NOT NULL,
            updated_at       TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        """,
    ),
    Migration(
        "004_usage",
        """
        CREATE TABLE usage (
            ts                TIMESTAMPTZ NOT NULL,
            caller            VARCHAR NOT NULL,
            method            VARCHAR NOT NULL,
            route             VARCHAR NOT NULL,
            model             VARCHAR,
            prompt_tokens     INTEGER NOT NULL DEFAULT 0,
            completion_tokens INTEGER NOT NULL DEFAULT 0,
            latency_ms        DOUBLE NOT NULL,
            status            INTEGER NOT NULL
        );
        CREATE INDEX usage_ts ON usage (ts);
        """,
    ),
    Migration(
        "005_structured_documents",
        """
        CREATE TABLE structured_documents (
            document_id   VARCHAR PRIMARY KEY,
            chunks        INTEGER NOT NULL,
            structured_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp
        );
        INSERT INTO structured_documents (document_id, chunks)
            SELECT document_id, count(*) FROM chunks GROUP BY document_id;
        """,
    ),
    Migration(
        "006_agents",
        """
        CREATE TABLE agents (
            name       VARCHAR NOT NULL,
            version    INTEGER NOT NULL,
            config     JSON NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            PRIMARY KEY (name, version)
        );
        """,
    ),
    Migration(
        "007_training_jobs",
        """
        ALTER TABLE jobs ADD COLUMN step INTEGER;
        ALTER TABLE jobs ADD COLUMN total_steps INTEGER;
        ALTER TABLE jobs ADD COLUMN last_loss DOUBLE;
        """,
    ),
    Migration(
        "008_auth",
        """
        CREATE TABLE users (
            name                VARCHAR PRIMARY KEY,
            role                VARCHAR NOT NULL,
            password_hash       VARCHAR NOT NULL,
            disabled            BOOLEAN NOT NULL DEFAULT false,
            created_at          TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            password_changed_at TIMESTAMPTZ,
            failed_logins       INTEGER NOT NULL DEFAULT 0,
            locked_until        TIMESTAMPTZ
        );
        CREATE TABLE api_keys (
            id           VARCHAR PRIMARY KEY,
            prefix       VARCHAR NOT NULL UNIQUE,
            key_hash     VARCHAR NOT NULL,
            name         VARCHAR NOT NULL,
            owner        VARCHAR NOT NULL,          -- a user name, or 'local' (the shell operator)
            role         VARCHAR NOT NULL,
            permissions  JSON,                      -- null: the role's permissions
            agents       JSON,                      -- null: any agent
            created_at   TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            expires_at   TIMESTAMPTZ,
            revoked_at   TIMESTAMPTZ,
            last_used_at TIMESTAMPTZ,
            rotated_from VARCHAR
        );
        CREATE TABLE refresh_tokens (
            id         VARCHAR PRIMARY KEY,
            family     VARCHAR NOT NULL,
            username   VARCHAR NOT NULL,
            token_hash VARCHAR NOT NULL,
            created_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            expires_at TIMESTAMPTZ NOT NULL,
            used_at    TIMESTAMPTZ,
            revoked_at TIMESTAMPTZ
        );
        CREATE INDEX refresh_tokens_family ON refresh_tokens (family);
        CREATE TABLE auth_failures (
            client       VARCHAR PRIMARY KEY,       -- the client address
            failures     INTEGER NOT NULL,
            last_at      TIMESTAMPTZ NOT NULL,
            locked_until TIMESTAMPTZ
        );
        CREATE TABLE audit_log (
            seq        BIGINT PRIMARY KEY,
            ts         TIMESTAMPTZ NOT NULL,
            actor      VARCHAR,
            key_prefix VARCHAR,
            client     VARCHAR,
            action     VARCHAR NOT NULL,
            target     VARCHAR,
            status     INTEGER,
            latency_ms DOUBLE,
            details    JSON,
            prev_hash  VARCHAR NOT NULL,
            hash       VARCHAR NOT NULL
        );
        """,
    ),
    Migration(
        "009_usage_keys",
        """
        ALTER TABLE usage ADD COLUMN key_prefix VARCHAR;   -- the API key a request came with (NULL: a token)
        """,
    ),
    Migration(
        "010_page_rotation",
        """
        ALTER TABLE pages ADD COLUMN rotation INTEGER DEFAULT 0;  -- degrees clockwise a scan was turned upright: 0, 90, 180, 270
        """,
    ),
)
