"""The integrity check (DESIGN §3): the invariants that say no money was lost, created or spent twice.

1. `balance >= 0` for every user.
2. `balance == opening checkpoint + SUM(ledger)` for every user.
3. Each user's `balance_after` chain is continuous: previous `balance_after` (or the opening checkpoint)
   plus `amount` equals this row's `balance_after`.
4. Every bet has exactly one BET row of minus its stake, by its owner; a won bet exactly one PAYOUT of its
   payout; a void bet exactly one REFUND of its stake; no other bet has either.
5. live.db only: each user's running loss for their last betting day (taptrade.limits) is that day's
   stakes minus payouts and refunds, for days whose rows no week file has taken.

It only reads (through a read-only connection), so it can run beside a live ledger. A week file
(DESIGN §7) keeps live.db's table shapes, so the same rules run on it; `check_week_file` adds that the
file's opening and closing balances are the checkpoints live.db recorded, so a user's money adds up from
their first week to today.
"""

from __future__ import annotations

import sqlite3
from dataclasses import asdict, dataclass, field
from pathlib import Path

from taptrade.clock import DAY_MS
from taptrade.ledger import db

MAX_LISTED_PER_RULE = 100

_OPENING = """
WITH opening AS (
    SELECT c.user_id, c.balance_cents FROM checkpoints c
    WHERE c.week = (SELECT MAX(c2.week) FROM checkpoints c2 WHERE c2.user_id = c.user_id)
)
"""

_NEGATIVE = "SELECT id, address, balance_cents FROM users WHERE balance_cents < 0"

_BALANCE_VS_SUM = (
    _OPENING
    + """
, sums AS (SELECT user_id, SUM(amount_cents) AS total FROM ledger GROUP BY user_id)
SELECT u.id, u.address, u.balance_cents, COALESCE(o.balance_cents, 0), COALESCE(s.total, 0)
FROM users u LEFT JOIN opening o ON o.user_id = u.id LEFT JOIN sums s ON s.user_id = u.id
WHERE u.balance_cents <> COALESCE(o.balance_cents, 0) + COALESCE(s.total, 0)
"""
)

_CHAIN = (
    _OPENING
    + """
, chained AS (
    SELECT l.user_id, l.id, l.amount_cents, l.balance_after_cents,
           LAG(l.balance_after_cents) OVER (PARTITION BY l.user_id ORDER BY l.id) AS previous
    FROM ledger l
)
SELECT c.user_id, u.address, c.id, c.amount_cents, c.balance_after_cents,
       COALESCE(c.previous, o.balance_cents, 0) AS before
FROM chained c JOIN users u ON u.id = c.user_id LEFT JOIN opening o ON o.user_id = c.user_id
WHERE COALESCE(c.previous, o.balance_cents, 0) + c.amount_cents <> c.balance_after_cents
"""
)

_BET_ROWS = """
WITH per_bet AS (
    SELECT bet_ref,
           SUM(kind = 'BET') AS bet_rows, SUM(CASE WHEN kind = 'BET' THEN amount_cents END) AS debited,
           SUM(kind = 'PAYOUT') AS payout_rows,
           SUM(CASE WHEN kind = 'PAYOUT' THEN amount_cents END) AS paid,
           SUM(kind = 'REFUND') AS refund_rows,
           SUM(CASE WHEN kind = 'REFUND' THEN amount_cents END) AS refunded,
           MIN(user_id) AS min_user, MAX(user_id) AS max_user
    FROM ledger WHERE bet_ref IS NOT NULL GROUP BY bet_ref
)
SELECT b.id, u.address, b.status, b.amount_cents, b.payout_cents,
       COALESCE(p.bet_rows, 0), p.debited, COALESCE(p.payout_rows, 0), p.paid,
       COALESCE(p.refund_rows, 0), p.refunded
FROM bets b JOIN users u ON u.id = b.user_id LEFT JOIN per_bet p ON p.bet_ref = b.id
WHERE COALESCE(p.bet_rows, 0) <> 1 OR p.debited <> -b.amount_cents
   OR p.min_user <> b.user_id OR p.max_user <> b.user_id
   OR (b.status = 'won' AND (COALESCE(p.payout_rows, 0) <> 1 OR p.paid IS NOT b.payout_cents))
   OR (b.status <> 'won' AND COALESCE(p.payout_rows, 0) <> 0)
   OR (b.status = 'void' AND (COALESCE(p.refund_rows, 0) <> 1 OR p.refunded <> b.amount_cents))
   OR (b.status <> 'void' AND COALESCE(p.refund_rows, 0) <> 0)
"""

_ORPHAN_ROWS = """
SELECT l.id, l.kind, l.bet_ref FROM ledger l LEFT JOIN bets b ON b.id = l.bet_ref
WHERE l.bet_ref IS NOT NULL AND b.id IS NULL
"""


_DAY_LOSS = f"""
WITH kept_from AS (SELECT COALESCE(MAX(end_ms), 0) AS ms FROM weeks),
day_rows AS (
    SELECT l.user_id, -SUM(l.amount_cents) AS loss FROM ledger l JOIN users u ON u.id = l.user_id
    WHERE l.kind IN ('BET', 'PAYOUT', 'REFUND')
      AND l.created_ms >= u.loss_day * {DAY_MS} AND l.created_ms < (u.loss_day + 1) * {DAY_MS}
    GROUP BY l.user_id
)
SELECT u.id, u.address, u.loss_day, u.loss_today_cents, COALESCE(d.loss, 0)
FROM users u LEFT JOIN day_rows d ON d.user_id = u.id
WHERE u.loss_day * {DAY_MS} >= (SELECT ms FROM kept_from) AND u.loss_today_cents <> COALESCE(d.loss, 0)
"""


@dataclass(frozen=True)
class Violation:
    rule: str
    detail: str
    address: str | None = None


@dataclass
class IntegrityReport:
    users: int = 0
    ledger_rows: int = 0
    bets: int = 0
    violation_count: int = 0
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.violation_count == 0

    @property
    def drifted_users(self) -> int:
        return len({v.address for v in self.violations if v.address is not None})

    def as_dict(self) -> dict[str, object]:
        return {"ok": self.ok, **asdict(self)}

    def _add(self, violation: Violation, listed: int) -> None:
        self.violation_count += 1
        if listed < MAX_LISTED_PER_RULE:
            self.violations.append(violation)


def check_integrity(conn: sqlite3.Connection, live: bool = True) -> IntegrityReport:
    """`live`: the connection is live.db (not a week file), so rule 5 applies."""
    report = IntegrityReport()
    conn.execute("BEGIN")  # one snapshot for every rule
    try:
        (report.users,) = conn.execute("SELECT COUNT(*) FROM users").fetchone()
        (report.ledger_rows,) = conn.execute("SELECT COUNT(*) FROM ledger").fetchone()
        (report.bets,) = conn.execute("SELECT COUNT(*) FROM bets").fetchone()
        for n, (_uid, address, balance) in enumerate(conn.execute(_NEGATIVE)):
            report._add(Violation("balance_negative", f"balance {balance}", address), n)
        for n, (_uid, address, balance, opening, total) in enumerate(conn.execute(_BALANCE_VS_SUM)):
            detail = f"balance {balance} != opening {opening} + ledger sum {total}"
            report._add(Violation("balance_mismatch", detail, address), n)
        for n, (_uid, address, entry_id, amount, after, before) in enumerate(conn.execute(_CHAIN)):
            detail = f"ledger row {entry_id}: {before} + {amount} != balance_after {after}"
            report._add(Violation("chain_broken", detail, address), n)
        for n, row in enumerate(conn.execute(_BET_ROWS)):
            bet_id, address, status, amount, payout = row[:5]
            bet_rows, debited, payout_rows, paid, refund_rows, refunded = row[5:]
            detail = (
                f"bet {bet_id} ({status}, stake {amount}, payout {payout}): {bet_rows} BET rows "
                f"({debited}), {payout_rows} PAYOUT ({paid}), {refund_rows} REFUND ({refunded})"
            )
            report._add(Violation("bet_rows", detail, address), n)
        for n, (entry_id, kind, bet_ref) in enumerate(conn.execute(_ORPHAN_ROWS)):
            detail = f"ledger row {entry_id} ({kind}) names missing bet {bet_ref}"
            report._add(Violation("orphan_row", detail), n)
        if live:
            for n, (_uid, address, day, kept, rows) in enumerate(conn.execute(_DAY_LOSS)):
                detail = f"loss of day {day}: kept {kept} != its ledger rows {rows}"
                report._add(Violation("day_loss_mismatch", detail, address), n)
    finally:
        conn.execute("ROLLBACK")
    return report


def check_week_file(live: sqlite3.Connection, week_conn: sqlite3.Connection, week: str) -> IntegrityReport:
    """The rules on a week file, plus its agreement with live.db: each user's closing balance and last row
    are live.db's checkpoint for the week, each opening is the checkpoint before, and the counts match."""
    report = check_integrity(week_conn, live=False)
    closing = {
        user_id: (balance, last_id, rows)
        for user_id, balance, last_id, rows in live.execute(
            "SELECT user_id, balance_cents, last_ledger_id, ledger_rows FROM checkpoints WHERE week = ?",
            (week,),
        )
    }
    in_file = {
        user_id: (balance, last_id, rows)
        for user_id, balance, last_id, rows in week_conn.execute(
            "SELECT u.id, u.balance_cents, MAX(l.id), COUNT(l.id) FROM users u"
            " LEFT JOIN ledger l ON l.user_id = u.id GROUP BY u.id"
        )
    }
    addresses = dict(week_conn.execute("SELECT id, address FROM users").fetchall())
    for n, user_id in enumerate(sorted(closing.keys() | in_file.keys())):
        if closing.get(user_id) != in_file.get(user_id):
            detail = (
                f"week {week}: live.db checkpoint (balance, last row, rows) {closing.get(user_id)}"
                f" != week file {in_file.get(user_id)}"
            )
            report._add(Violation("checkpoint_mismatch", detail, addresses.get(user_id)), n)
    openings = week_conn.execute("SELECT user_id, week, balance_cents, last_ledger_id FROM checkpoints")
    for n, (user_id, previous_week, balance, last_id) in enumerate(openings):
        recorded = live.execute(
            "SELECT balance_cents, last_ledger_id FROM checkpoints WHERE user_id = ? AND week = ?",
            (user_id, previous_week),
        ).fetchone()
        if recorded != (balance, last_id):
            detail = f"week {week}: opening {previous_week} ({balance}, {last_id}) != live.db {recorded}"
            report._add(Violation("checkpoint_mismatch", detail, addresses.get(user_id)), n)
    for n, (user_id, week_before) in enumerate(
        live.execute(
            "SELECT c.user_id, MAX(p.week) FROM checkpoints c JOIN checkpoints p"
            " ON p.user_id = c.user_id AND p.week < c.week WHERE c.week = ? GROUP BY c.user_id",
            (week,),
        )
    ):
        has_opening = week_conn.execute(
            "SELECT 1 FROM checkpoints WHERE user_id = ? AND week = ?", (user_id, week_before)
        ).fetchone()
        if has_opening is None:
            detail = f"week {week}: the file lacks the opening checkpoint of {week_before}"
            report._add(Violation("checkpoint_mismatch", detail, addresses.get(user_id)), n)
    return report


@dataclass
class FullReport:
    """live.db and every week file kept locally; weeks only in cold storage are listed, not checked."""

    live: IntegrityReport
    weeks: dict[str, IntegrityReport] = field(default_factory=dict)
    not_local: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.live.ok and all(r.ok for r in self.weeks.values())

    @property
    def violation_count(self) -> int:
        return self.live.violation_count + sum(r.violation_count for r in self.weeks.values())

    @property
    def drifted_users(self) -> int:
        """Distinct users named by any violation, in live.db or a week file."""
        reports = [self.live, *self.weeks.values()]
        return len({v.address for r in reports for v in r.violations if v.address is not None})

    def as_dict(self) -> dict[str, object]:
        weeks = {week: report.as_dict() for week, report in self.weeks.items()}
        return {"ok": self.ok, "live": self.live.as_dict(), "weeks": weeks, "not_local": self.not_local}


def check_everything(live: sqlite3.Connection, weeks_dir: Path) -> FullReport:
    full = FullReport(live=check_integrity(live))
    for week, file in live.execute("SELECT week, file FROM weeks WHERE file IS NOT NULL ORDER BY week"):
        path = weeks_dir / file
        if not path.is_file():
            full.not_local.append(week)
            continue
        week_conn = db.open_reader(path)
        try:
            full.weeks[week] = check_week_file(live, week_conn, week)
        finally:
            week_conn.close()
    return full
