-- The process running each call (host:pid), so a restart can close what a crash left open.
ALTER TABLE calls ADD COLUMN owner TEXT;
CREATE INDEX calls_open ON calls (owner) WHERE ended_at IS NULL;
