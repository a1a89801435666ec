-- The feed's health when each bar closed: a column with a critical second is void (DESIGN §6).
-- ('healthy' | 'degraded' | 'critical', checked when the ledger decodes a bar: a CHECK added by ALTER TABLE
-- makes SQLite re-scan the table and print the scan's rows through the migration tool.)
-- depends: 0001_initial

ALTER TABLE price_bars ADD COLUMN health TEXT NOT NULL DEFAULT 'healthy';
