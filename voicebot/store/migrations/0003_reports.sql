-- Scored interviews (the report JSON is the source of truth) and per-utterance prosody.
CREATE TABLE reports (
    call_id         TEXT PRIMARY KEY REFERENCES calls(id) ON DELETE CASCADE,
    job_id          TEXT NOT NULL,
    candidate_id    TEXT,
    overall         REAL,                 -- weighted 1-5, NULL when nothing was assessed
    recommendation  TEXT NOT NULL,        -- strong_yes, yes, no_decision, no, definitely_not
    report_json     TEXT NOT NULL,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL
);

CREATE INDEX reports_by_job ON reports (job_id, overall);

-- Energy and pitch variability of one candidate utterance (turn seq), kept only when the
-- job opted in to prosody and the compliance mode allows it.
CREATE TABLE utterance_prosody (
    call_id         TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,
    features_json   TEXT NOT NULL,
    PRIMARY KEY (call_id, seq)
);
