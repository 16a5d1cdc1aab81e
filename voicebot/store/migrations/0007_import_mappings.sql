-- The column mapping HR gave for a file's header (`voicebot candidates import --map`), so the
-- next export from the same source, with the same header, imports without it. Column names
-- only: no candidate's data.
CREATE TABLE import_mappings (
    header      TEXT PRIMARY KEY,     -- the header's columns, normalised, as a JSON list
    mapping     TEXT NOT NULL,        -- JSON {normalised column: field, or "-" to skip it}
    updated_at  REAL NOT NULL
);
