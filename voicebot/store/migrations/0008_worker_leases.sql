-- Several workers dialling one campaign (`voicebot worker`): each attempt is held by the
-- worker that claimed it for as long as its lease is renewed; an expired lease means the worker
-- is gone, and another one settles the attempt (a claim never dialled goes back to the queue,
-- a call that may have connected is marked for review, never dialled again). The campaign's
-- last dial time is shared so calls_per_second holds across all workers together.
ALTER TABLE attempts ADD COLUMN owner TEXT;
ALTER TABLE attempts ADD COLUMN lease_until REAL;
ALTER TABLE campaigns ADD COLUMN last_dial_at REAL;
CREATE INDEX attempts_live ON attempts (campaign_id, state, lease_until);
