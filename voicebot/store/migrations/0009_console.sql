-- The HR console and token management (issue 17): tokens get an optional expiry and a
-- `readonly` role (reads only); the console's sign-in sessions; reviewers' decisions on
-- interviews (advance / reject / hold, with a reason) and candidates' requests for one.
-- Portable SQL: the same file runs on SQLite and PostgreSQL. api_tokens is rebuilt because a
-- CHECK constraint cannot be changed in place on SQLite; every existing token keeps working.
CREATE TABLE api_tokens_v9 (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('hr', 'system', 'readonly')),
    token_hash    TEXT NOT NULL UNIQUE,   -- sha256 of the token; the token is shown once
    created_at    REAL NOT NULL,
    last_used_at  REAL,
    revoked_at    REAL,
    expires_at    REAL                    -- NULL: never
);
INSERT INTO api_tokens_v9 (id, name, role, token_hash, created_at, last_used_at, revoked_at)
    SELECT id, name, role, token_hash, created_at, last_used_at, revoked_at FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_v9 RENAME TO api_tokens;

CREATE TABLE console_sessions (
    id_hash     TEXT PRIMARY KEY,         -- sha256 of the cookie's session id
    token_id    TEXT NOT NULL,            -- the token signed in with; revoking it ends the session
    csrf        TEXT NOT NULL,            -- every POST form carries it
    created_at  REAL NOT NULL,
    expires_at  REAL NOT NULL
);
CREATE INDEX console_sessions_token ON console_sessions (token_id);

CREATE TABLE review_decisions (
    id          TEXT PRIMARY KEY,
    call_id     TEXT NOT NULL,
    decision    TEXT NOT NULL CHECK (decision IN ('advance', 'reject', 'hold')),
    reason      TEXT NOT NULL,
    reviewer    TEXT NOT NULL,            -- the token's id and label, never a candidate's data
    decided_at  REAL NOT NULL,
    event_id    TEXT NOT NULL             -- the review.decided webhook event
);
CREATE INDEX review_decisions_call ON review_decisions (call_id, decided_at);

CREATE TABLE review_requests (
    call_id       TEXT PRIMARY KEY,       -- the candidate asked for a person to review it (pipl)
    requested_at  REAL NOT NULL,
    source        TEXT NOT NULL
);
