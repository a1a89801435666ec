-- The money core (DESIGN §3, §7). Integer cents everywhere; multipliers in 1/10,000.
-- depends:

CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    address         TEXT    NOT NULL UNIQUE CHECK (length(address) = 42),
    balance_cents   INTEGER NOT NULL DEFAULT 0
                            CHECK (balance_cents >= 0 AND balance_cents <= 1000000000000000),
    event_seq       INTEGER NOT NULL DEFAULT 0 CHECK (event_seq >= 0),
    created_ms      INTEGER NOT NULL
) STRICT;

CREATE TABLE bets (
    id              INTEGER PRIMARY KEY,
    bet_id          BLOB    NOT NULL UNIQUE CHECK (length(bet_id) = 16),
    user_id         INTEGER NOT NULL REFERENCES users (id),
    column_index    INTEGER NOT NULL CHECK (column_index >= 0),
    row_index       INTEGER NOT NULL CHECK (row_index >= 0),
    lower_cents     INTEGER NOT NULL,
    upper_cents     INTEGER NOT NULL CHECK (upper_cents > lower_cents),
    amount_cents    INTEGER NOT NULL CHECK (amount_cents > 0),
    multiplier_e4   INTEGER NOT NULL CHECK (multiplier_e4 > 10000),
    quote_id        INTEGER NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'confirmed'
                            CHECK (status IN ('confirmed', 'won', 'lost', 'void')),
    payout_cents    INTEGER CHECK (payout_cents >= 0),
    placed_ms       INTEGER NOT NULL,
    resolved_ms     INTEGER,
    UNIQUE (user_id, column_index, row_index)
) STRICT;

-- Only unresolved bets are indexed by column: resolution finds them, and the entry goes once resolved.
CREATE INDEX bets_open_by_column ON bets (column_index) WHERE status = 'confirmed';

-- Clustered by user: a user's history is one range of the table, and a balance change inserts into one
-- B-tree instead of a table plus a per-user index. `id` is global and increasing, assigned by the ledger
-- from `counters` (rows are never reordered; gaps are harmless).
CREATE TABLE ledger (
    user_id             INTEGER NOT NULL REFERENCES users (id),
    id                  INTEGER NOT NULL,
    kind                TEXT    NOT NULL
                                CHECK (kind IN ('DEPOSIT', 'WITHDRAWAL', 'BET', 'PAYOUT', 'REFUND', 'ADJUSTMENT')),
    amount_cents        INTEGER NOT NULL CHECK (amount_cents <> 0),
    balance_after_cents INTEGER NOT NULL CHECK (balance_after_cents >= 0),
    bet_ref             INTEGER REFERENCES bets (id),
    ref                 TEXT,
    meta                TEXT,
    created_ms          INTEGER NOT NULL,
    PRIMARY KEY (user_id, id),
    CHECK ((kind IN ('BET', 'PAYOUT', 'REFUND')) = (bet_ref IS NOT NULL)),
    CHECK (kind = 'ADJUSTMENT'
           OR (kind IN ('DEPOSIT', 'PAYOUT', 'REFUND') AND amount_cents > 0)
           OR (kind IN ('WITHDRAWAL', 'BET') AND amount_cents < 0))
) STRICT, WITHOUT ROWID;

-- Operator commands carry a client-made id: a repeat finds the first one here.
CREATE UNIQUE INDEX ledger_by_ref ON ledger (ref) WHERE ref IS NOT NULL;

-- Counters the ledger keeps in the same transaction as the rows they number.
CREATE TABLE counters (
    name            TEXT    PRIMARY KEY,
    value           INTEGER NOT NULL
) STRICT;
INSERT INTO counters (name, value) VALUES ('ledger_id', 0);

-- Resolved or void columns, kept forever (DESIGN §6).
CREATE TABLE columns (
    column_index    INTEGER PRIMARY KEY,
    start_ms        INTEGER NOT NULL,
    end_ms          INTEGER NOT NULL,
    status          TEXT    NOT NULL CHECK (status IN ('resolved', 'void')),
    open_cents      INTEGER,
    high_cents      INTEGER,
    low_cents       INTEGER,
    close_cents     INTEGER,
    ticks           INTEGER NOT NULL DEFAULT 0,
    first_trade_id  INTEGER,
    last_trade_id   INTEGER,
    void_reason     TEXT,
    resolved_ms     INTEGER NOT NULL
) STRICT;

-- Closed 1 s bars from the feed, exchange time; kept 7 days (DESIGN §5).
CREATE TABLE price_bars (
    second          INTEGER PRIMARY KEY,
    open_cents      INTEGER NOT NULL,
    high_cents      INTEGER NOT NULL,
    low_cents       INTEGER NOT NULL,
    close_cents     INTEGER NOT NULL,
    trade_count     INTEGER NOT NULL CHECK (trade_count >= 0),
    first_trade_id  INTEGER,
    last_trade_id   INTEGER,
    CHECK (low_cents <= open_cents AND low_cents <= close_cents
           AND high_cents >= open_cents AND high_cents >= close_cents)
) STRICT;

-- Each user's balance when a week was rotated out of live.db: the opening balance of what remains.
CREATE TABLE checkpoints (
    user_id         INTEGER NOT NULL REFERENCES users (id),
    week            TEXT    NOT NULL,
    balance_cents   INTEGER NOT NULL CHECK (balance_cents >= 0),
    last_ledger_id  INTEGER NOT NULL,
    created_ms      INTEGER NOT NULL,
    PRIMARY KEY (user_id, week)
) STRICT;

-- Week files and where they went.
CREATE TABLE archives (
    week            TEXT    PRIMARY KEY,
    local_path      TEXT,
    object_url      TEXT,
    size_bytes      INTEGER,
    sha256          TEXT,
    state           TEXT    NOT NULL CHECK (state IN ('local', 'uploaded', 'purged')),
    created_ms      INTEGER NOT NULL,
    uploaded_ms     INTEGER
) STRICT;
