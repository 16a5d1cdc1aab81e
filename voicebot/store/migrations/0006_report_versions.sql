-- Every scoring of a call is kept: a rescore adds a version instead of overwriting the report
-- the ATS already has. `reports` stays the newest version (what is served, sorted, filtered).
CREATE TABLE report_versions (
    call_id         TEXT NOT NULL REFERENCES calls(id) ON DELETE CASCADE,
    version         INTEGER NOT NULL,     -- 1, 2, ... in the order scored
    overall         REAL,
    recommendation  TEXT NOT NULL,
    report_json     TEXT NOT NULL,
    created_at      REAL NOT NULL,
    PRIMARY KEY (call_id, version)
);

ALTER TABLE reports ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

INSERT INTO report_versions (call_id, version, overall, recommendation, report_json, created_at)
    SELECT call_id, 1, overall, recommendation, report_json, updated_at FROM reports;
