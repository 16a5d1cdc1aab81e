-- HR side: jobs, candidates, campaigns and their attempts, do-not-call, webhooks, API tokens,
-- hiring outcomes and self-reported demographics (for adverse-impact analysis only).
CREATE TABLE jobs (
    id            TEXT PRIMARY KEY,
    title         TEXT NOT NULL,
    spec_yaml     TEXT NOT NULL,          -- the job as imported (YAML keeps integer keys)
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL
);

CREATE TABLE candidates (
    id                 TEXT PRIMARY KEY,
    job_id             TEXT NOT NULL REFERENCES jobs(id),
    phone_e164         TEXT NOT NULL,     -- needed to dial; never logged (pii.redact)
    phone_hash         TEXT NOT NULL,     -- the person across jobs: do-not-call, cool-down
    name               TEXT,
    email              TEXT,
    external_id        TEXT,
    timezone           TEXT NOT NULL,
    years_experience   REAL,
    education          TEXT,
    skills_json        TEXT NOT NULL DEFAULT '[]',
    current_title      TEXT,
    consent_call       INTEGER NOT NULL DEFAULT 1,
    consent_recording  INTEGER NOT NULL DEFAULT 0,
    eligible           INTEGER,           -- NULL until screened
    screen_json        TEXT,              -- reasons from the last screen
    created_at         REAL NOT NULL,
    updated_at         REAL NOT NULL,
    UNIQUE (job_id, phone_e164)
);
CREATE INDEX candidates_by_phone ON candidates (phone_hash);

CREATE TABLE demographics (
    candidate_id  TEXT NOT NULL REFERENCES candidates(id) ON DELETE CASCADE,
    category      TEXT NOT NULL,          -- sex, race_ethnicity, ...
    value         TEXT NOT NULL,
    PRIMARY KEY (candidate_id, category)
);

CREATE TABLE outcomes (
    candidate_id  TEXT PRIMARY KEY REFERENCES candidates(id) ON DELETE CASCADE,
    hired         INTEGER,
    performance   REAL,                   -- later rating, 1..5
    note          TEXT,
    recorded_at   REAL NOT NULL
);

CREATE TABLE campaigns (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    job_id        TEXT NOT NULL REFERENCES jobs(id),
    state         TEXT NOT NULL CHECK (state IN ('draft', 'running', 'paused', 'done')),
    settings_json TEXT NOT NULL,
    runner        TEXT,                   -- host:pid:dialer of the process dialling it now
    runner_seen_at REAL,                  -- its heartbeat
    created_at    REAL NOT NULL,
    updated_at    REAL NOT NULL
);

-- One row per candidate in a campaign: where they stand and when they are next due.
CREATE TABLE campaign_targets (
    campaign_id   TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    candidate_id  TEXT NOT NULL REFERENCES candidates(id),
    phone_hash    TEXT NOT NULL,
    status        TEXT NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'in_progress', 'done', 'skipped')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    retries_json  TEXT NOT NULL DEFAULT '{}',   -- attempts so far per outcome
    next_at       REAL NOT NULL DEFAULT 0,
    last_outcome  TEXT,
    reason        TEXT,
    updated_at    REAL NOT NULL,
    PRIMARY KEY (campaign_id, candidate_id)
);
CREATE INDEX targets_due ON campaign_targets (campaign_id, status, next_at);

-- Claimed in the store before the dial: a restart sees every call that may have been placed.
CREATE TABLE attempts (
    id            TEXT PRIMARY KEY,
    campaign_id   TEXT NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
    candidate_id  TEXT NOT NULL REFERENCES candidates(id),
    phone_hash    TEXT NOT NULL,
    seq           INTEGER NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('claimed', 'dialling', 'finished', 'released')),
    claimed_at    REAL NOT NULL,
    dialled_at    REAL,
    ended_at      REAL,
    outcome       TEXT,
    call_id       TEXT,
    detail        TEXT,
    UNIQUE (campaign_id, candidate_id, seq)
);
CREATE INDEX attempts_by_phone ON attempts (phone_hash, dialled_at);

CREATE TABLE do_not_call (
    phone_hash    TEXT PRIMARY KEY,
    added_at      REAL NOT NULL,
    source        TEXT NOT NULL
);

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('hr', 'system')),
    token_hash    TEXT NOT NULL UNIQUE,   -- sha256 of the token; the token is shown once
    created_at    REAL NOT NULL,
    last_used_at  REAL,
    revoked_at    REAL
);

CREATE TABLE webhook_endpoints (
    id                 TEXT PRIMARY KEY,
    url                TEXT NOT NULL,
    secret             TEXT NOT NULL,     -- whsec_...
    old_secret         TEXT,              -- still signed with until old_secret_until
    old_secret_until   REAL,
    event_types_json   TEXT NOT NULL DEFAULT '[]',   -- empty = every event
    enabled            INTEGER NOT NULL DEFAULT 1,
    disabled_reason    TEXT,
    created_at         REAL NOT NULL
);

-- The durable outbox: an event is written in the same transaction as the state it reports.
CREATE TABLE webhook_events (
    id            TEXT PRIMARY KEY,       -- the webhook-id header, stable across retries
    type          TEXT NOT NULL,
    payload_json  TEXT NOT NULL,
    created_at    REAL NOT NULL
);

CREATE TABLE webhook_deliveries (
    event_id      TEXT NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
    endpoint_id   TEXT NOT NULL REFERENCES webhook_endpoints(id) ON DELETE CASCADE,
    state         TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'delivered', 'failed', 'cancelled')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       REAL NOT NULL,
    last_status   INTEGER,
    last_error    TEXT,
    delivered_at  REAL,
    PRIMARY KEY (event_id, endpoint_id)
);
CREATE INDEX deliveries_due ON webhook_deliveries (state, next_at);
