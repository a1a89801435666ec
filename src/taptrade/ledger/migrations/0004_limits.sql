-- Responsible play (taptrade.limits): each user's daily net-loss limit, a pending raise, a pause, and the
-- running net loss of one UTC day, kept on the user's row so a bet checks and updates them in the same
-- UPDATE that debits the stake.
-- depends: 0003_weeks

ALTER TABLE users ADD COLUMN loss_limit_cents INTEGER CHECK (loss_limit_cents >= 0);
ALTER TABLE users ADD COLUMN loss_limit_next_cents INTEGER CHECK (loss_limit_next_cents >= 0);
ALTER TABLE users ADD COLUMN loss_limit_next_ms INTEGER;
ALTER TABLE users ADD COLUMN paused_until_ms INTEGER;
-- Days since 1970-01-01 UTC, and that day's stakes minus payouts and refunds (negative when winning).
ALTER TABLE users ADD COLUMN loss_day INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN loss_today_cents INTEGER NOT NULL DEFAULT 0;
