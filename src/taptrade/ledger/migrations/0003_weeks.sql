-- Weekly partitions (DESIGN §7). The ledger records each rotated week in `weeks`; a user's checkpoint for a
-- week says where that user's rows in the week file end (the opening of what stays in live.db) and what the
-- file holds for them, so history can tell a range that only cold storage has (410) from an empty one.
-- The archiver keeps its own record in the object store (it never writes live.db), so `archives` goes.
-- depends: 0002_bar_health

DROP TABLE archives;
DROP TABLE checkpoints;

CREATE TABLE checkpoints (
    user_id         INTEGER NOT NULL REFERENCES users (id),
    week            TEXT    NOT NULL,
    balance_cents   INTEGER NOT NULL CHECK (balance_cents >= 0),
    first_ledger_id INTEGER NOT NULL,
    last_ledger_id  INTEGER NOT NULL CHECK (last_ledger_id >= first_ledger_id),
    ledger_rows     INTEGER NOT NULL CHECK (ledger_rows > 0),
    bets            INTEGER NOT NULL CHECK (bets >= 0),
    min_column      INTEGER,
    max_column      INTEGER,
    created_ms      INTEGER NOT NULL,
    PRIMARY KEY (user_id, week)
) STRICT;

-- A week's users in order: where an interrupted rotation resumes, and what the integrity check compares.
CREATE INDEX checkpoints_by_week ON checkpoints (week, user_id);

CREATE TABLE weeks (
    week            TEXT    PRIMARY KEY,
    start_ms        INTEGER NOT NULL,
    end_ms          INTEGER NOT NULL CHECK (end_ms > start_ms),
    file            TEXT,
    users           INTEGER NOT NULL CHECK (users >= 0),
    bets            INTEGER NOT NULL CHECK (bets >= 0),
    ledger_rows     INTEGER NOT NULL CHECK (ledger_rows >= 0),
    rotated_ms      INTEGER NOT NULL
) STRICT;
