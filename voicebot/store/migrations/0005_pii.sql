-- PII at rest (issue 16 item 10). The schema part; the data part (keyed hashes for every
-- phone hash and calls.remote_hash, contact fields encrypted, keyed candidate ids) runs in the
-- same transaction in Python (voicebot/store/privacy.py, migrate_plain), since it needs keys.
ALTER TABLE candidates ADD COLUMN erased_at REAL;   -- contact fields redacted at this time

-- Who did what to whose data, and when. Subjects are candidate or call ids, never a name or a
-- number, so the audit trail survives the erasure it records.
CREATE TABLE audit (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    at           REAL NOT NULL,
    actor        TEXT NOT NULL,                 -- cli:<login>, api:<token id>, retention, migration
    action       TEXT NOT NULL,                 -- erase, purge, rotate, migrate
    subject      TEXT,
    detail_json  TEXT NOT NULL DEFAULT '{}'     -- counts only
);
CREATE INDEX audit_by_subject ON audit (subject, at);

-- Which secret and keys the data was written with (fingerprints, never the keys).
CREATE TABLE pii_meta (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
