-- A week file, weeks/YYYY-Www.db (DESIGN §7): the resolved bets and ledger rows the ledger rotated out of
-- live.db, with the owners' balances at the cut. Tables keep live.db's names and columns, so the same
-- integrity check runs on it: `users.balance_cents` is each user's balance after their last row here, and
-- `checkpoints` holds each user's opening (their checkpoint from the week before, if any).

CREATE TABLE week_info (
    key             TEXT    PRIMARY KEY,
    value           ANY     NOT NULL
) STRICT;

CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    address         TEXT    NOT NULL UNIQUE,
    balance_cents   INTEGER NOT NULL CHECK (balance_cents >= 0),
    created_ms      INTEGER NOT NULL
) STRICT;

CREATE TABLE checkpoints (
    user_id         INTEGER NOT NULL,
    week            TEXT    NOT NULL,
    balance_cents   INTEGER NOT NULL CHECK (balance_cents >= 0),
    last_ledger_id  INTEGER NOT NULL,
    PRIMARY KEY (user_id, week)
) STRICT;

CREATE TABLE bets (
    id              INTEGER PRIMARY KEY,
    bet_id          BLOB    NOT NULL UNIQUE CHECK (length(bet_id) = 16),
    user_id         INTEGER NOT NULL,
    column_index    INTEGER NOT NULL,
    row_index       INTEGER NOT NULL,
    lower_cents     INTEGER NOT NULL,
    upper_cents     INTEGER NOT NULL,
    amount_cents    INTEGER NOT NULL,
    multiplier_e4   INTEGER NOT NULL,
    quote_id        INTEGER NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('won', 'lost', 'void')),
    payout_cents    INTEGER,
    placed_ms       INTEGER NOT NULL,
    resolved_ms     INTEGER NOT NULL,
    UNIQUE (user_id, column_index, row_index)
) STRICT;

CREATE TABLE ledger (
    user_id             INTEGER NOT NULL,
    id                  INTEGER NOT NULL,
    kind                TEXT    NOT NULL,
    amount_cents        INTEGER NOT NULL,
    balance_after_cents INTEGER NOT NULL,
    bet_ref             INTEGER,
    ref                 TEXT,
    meta                TEXT,
    created_ms          INTEGER NOT NULL,
    PRIMARY KEY (user_id, id)
) STRICT, WITHOUT ROWID;

-- The rotation's plan, per user: what this file holds for them, so the ledger can remove exactly that from
-- live.db in small steps (and live.db's checkpoint for the week is this row).
CREATE TABLE cuts (
    user_id         INTEGER PRIMARY KEY,
    balance_cents   INTEGER NOT NULL,
    first_ledger_id INTEGER NOT NULL,
    last_ledger_id  INTEGER NOT NULL,
    ledger_rows     INTEGER NOT NULL,
    bets            INTEGER NOT NULL,
    min_column      INTEGER,
    max_column      INTEGER
) STRICT;
