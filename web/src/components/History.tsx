import { useEffect, useState } from 'react';
import { useAppState, useController } from '../app/context';
import type { Bet } from '../lib/types';
import { formatCents, formatCentsShort, formatMultiplierShort } from '../lib/money';
import { formatDateTimeUtc, formatTimeUtc } from '../lib/format';

/** The trader's bets, newest first (GET /api/bets), refreshed as bets change. */
export function History() {
  const controller = useController();
  const { activity, session } = useAppState();
  const [bets, setBets] = useState<Bet[]>([]);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    if (session === null) return;
    const timer = setTimeout(() => {
      controller.api.bets({ limit: 50 }).then(
        (page) => {
          setBets(page.bets);
          setCursor(page.next_cursor);
          setError(null);
        },
        (e: Error) => setError(e.message),
      );
    }, 300); // coalesce a burst of events into one request
    return () => clearTimeout(timer);
  }, [controller, activity, session]);

  const more = async () => {
    if (cursor === null) return;
    const page = await controller.api.bets({ limit: 50, cursor });
    setBets((b) => [...b, ...page.bets]);
    setCursor(page.next_cursor);
  };

  return (
    <section data-testid="history" aria-label="Bet history" className="panel">
      {error !== null && <p className="error">{error}</p>}
      {bets.length === 0 ? (
        <p className="muted">No bets yet. Tap a cell on the grid to bet.</p>
      ) : (
        <table className="table">
          <thead>
            <tr>
              <th>Window (UTC)</th>
              <th>Price band</th>
              <th className="num">Stake</th>
              <th className="num">Multiplier</th>
              <th>Status</th>
              <th className="num">Payout</th>
            </tr>
          </thead>
          <tbody>
            {bets.map((b) => (
              <tr key={b.bet_id} data-bet={b.bet_id} data-status={b.status}>
                <td>
                  {formatDateTimeUtc(b.start_ms)}–{formatTimeUtc(b.end_ms)}
                </td>
                <td>
                  {formatCentsShort(b.lower)}–{formatCentsShort(b.upper)}
                </td>
                <td className="num">{formatCents(b.amount)}</td>
                <td className="num">{formatMultiplierShort(b.multiplier)}</td>
                <td>
                  <span className={`status status-${b.status}`}>{b.status}</span>
                </td>
                <td className="num">{b.payout === null ? '—' : formatCents(b.payout)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {cursor !== null && (
        <button type="button" className="btn btn-small" onClick={() => void more()}>
          Older bets
        </button>
      )}
    </section>
  );
}
