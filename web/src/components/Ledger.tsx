import { useEffect, useState } from 'react';
import { useAppState, useController } from '../app/context';
import type { LedgerEntry } from '../lib/types';
import { formatCents, formatSignedCents } from '../lib/money';
import { formatDateTimeUtc } from '../lib/format';

const KINDS: Record<string, string> = {
  DEPOSIT: 'Deposit',
  WITHDRAWAL: 'Withdrawal',
  BET: 'Bet placed',
  PAYOUT: 'Win paid',
  REFUND: 'Refund (void column)',
  ADJUSTMENT: 'Adjustment',
};

/** "Where did my money go": every balance change, newest first (GET /api/ledger). */
export function Ledger() {
  const controller = useController();
  const { activity, session } = useAppState();
  const [entries, setEntries] = useState<LedgerEntry[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (session === null) return;
    const timer = setTimeout(() => {
      controller.api.ledger({ limit: 50 }).then(
        (page) => {
          setEntries(page.entries);
          setCursor(page.next_cursor);
          setError(null);
        },
        (e: Error) => setError(e.message),
      );
    }, 300);
    return () => clearTimeout(timer);
  }, [controller, activity, session]);

  const more = async () => {
    if (cursor === null) return;
    const page = await controller.api.ledger({ limit: 50, cursor });
    setEntries((e) => [...e, ...page.entries]);
    setCursor(page.next_cursor);
  };

  return (
    <section data-testid="ledger" aria-label="Ledger" className="panel">
      <p className="muted">Where did my money go: every change to your balance, with the balance after it.</p>
      {error !== null && <p className="error">{error}</p>}
      {entries.length === 0 ? (
        <p className="muted">No entries yet.</p>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th>Time (UTC)</th>
              <th>What</th>
              <th className="num">Amount</th>
              <th className="num">Balance after</th>
              <th>Reference</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.id} data-kind={e.kind}>
                <td>{formatDateTimeUtc(e.created_ms)}</td>
                <td>{KINDS[e.kind] ?? e.kind}</td>
                <td className={`num ${e.amount < 0 ? 'neg' : 'pos'}`}>{formatSignedCents(e.amount)}</td>
                <td className="num">{formatCents(e.balance_after)}</td>
                <td className="ref" title={e.meta ?? undefined}>
                  {e.ref ?? ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor !== null && (
        <button type="button" className="btn btn-small" onClick={() => void more()}>
          Older entries
        </button>
      )}
    </section>
  );
}
