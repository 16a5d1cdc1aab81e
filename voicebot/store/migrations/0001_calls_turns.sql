-- Calls and the turns spoken in them, written as they happen.
CREATE TABLE calls (
    id            TEXT PRIMARY KEY,
    direction     TEXT NOT NULL CHECK (direction IN ('inbound', 'outbound')),
    bridge        TEXT NOT NULL,
    remote_hash   TEXT NOT NULL,          -- sha256 of the remote party; never the number itself
    job_id        TEXT,
    candidate_id  TEXT,
    started_at    REAL NOT NULL,
    answered_at   REAL,
    ended_at      REAL,
    outcome       TEXT,                   -- completed, no_consent, silence, hung_up, failed ...
    consent       INTEGER,                -- 1 yes, 0 no, NULL not asked
    stats_json    TEXT
);

CREATE TABLE turns (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id       TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    speaker       TEXT NOT NULL CHECK (speaker IN ('bot', 'candidate')),
    kind          TEXT NOT NULL,          -- say, ask, answer, reprompt, dtmf ...
    question_id   TEXT,
    text          TEXT NOT NULL,
    started_at    REAL NOT NULL,
    ended_at      REAL NOT NULL,
    confidence    REAL,
    latency_ms    REAL,                   -- candidate's end of speech -> bot's first audio
    interrupted   INTEGER NOT NULL DEFAULT 0,
    UNIQUE (call_id, seq)
);

CREATE INDEX turns_by_call ON turns (call_id, seq);
