import { type FormEvent, useEffect, useState } from 'react';
import { useAppState, useController } from '../app/context';
import { lossRoom } from '../app/store';
import { formatCents, parseDollars } from '../lib/money';
import { formatDateTimeUtc } from '../lib/format';

const PAUSES = [
  { minutes: 0, text: 'No pause' },
  { minutes: 15, text: '15 minutes' },
  { minutes: 60, text: '1 hour' },
  { minutes: 24 * 60, text: '24 hours' },
  { minutes: 7 * 24 * 60, text: '7 days' },
];

/** Responsible play: the daily loss limit, today's losses, room left, and a pause (GET /api/me, PUT /api/me/limits). */
export function Limits() {
  const controller = useController();
  const { limits } = useAppState();
  const [limitText, setLimitText] = useState('');
  const [pause, setPause] = useState(0);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [touched, setTouched] = useState(false);
  const current = limits?.daily_loss_limit ?? null;
  useEffect(() => {
    // Start from the limit in force, so saving a pause alone does not drop the limit.
    if (!touched) setLimitText(current === null ? '' : String(current / 100));
  }, [current, touched]);
  const room = lossRoom(limits);
  const paused = limits?.paused_until_ms != null && limits.paused_until_ms > Date.now();

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const trimmed = limitText.trim();
    const cents = trimmed === '' ? null : parseDollars(trimmed);
    if (trimmed !== '' && cents === null) {
      setMessage({ kind: 'error', text: 'Enter the limit in dollars, e.g. 50 or 25.50' });
      return;
    }
    setBusy(true);
    const error = await controller.setLimits({ daily_loss_limit: cents, pause_minutes: pause === 0 ? null : pause });
    setBusy(false);
    setMessage(error === null ? { kind: 'ok', text: 'Limits saved.' } : { kind: 'error', text: error });
  };

  return (
    <section className="panel" aria-label="Limits" data-testid="limits">
      <dl className="limits">
        <dt>Daily loss limit</dt>
        <dd>{limits?.daily_loss_limit == null ? 'None' : formatCents(limits.daily_loss_limit)}</dd>
        <dt>{limits !== null && limits.loss_today < 0 ? 'Won today (UTC, net)' : 'Lost today (UTC, net)'}</dt>
        <dd data-testid="loss-today">{limits === null ? '…' : formatCents(Math.abs(limits.loss_today))}</dd>
        <dt>Room left today</dt>
        <dd data-testid="loss-room">{room === null ? 'No limit set' : formatCents(room)}</dd>
        {limits?.pending != null && (
          <>
            <dt>Change waiting</dt>
            <dd>
              {limits.pending.daily_loss_limit === null ? 'No limit' : formatCents(limits.pending.daily_loss_limit)} from{' '}
              {formatDateTimeUtc(limits.pending.effective_ms)} UTC
            </dd>
          </>
        )}
        <dt>Pause</dt>
        <dd>{paused && limits?.paused_until_ms != null ? `Paused until ${formatDateTimeUtc(limits.paused_until_ms)} UTC` : 'Not paused'}</dd>
      </dl>
      <form className="limits-form" onSubmit={(e) => void submit(e)}>
        <label>
          Daily loss limit ($, empty for none)
          <input inputMode="decimal" value={limitText} onChange={(e) => {
              setTouched(true);
              setLimitText(e.target.value);
            }} placeholder="e.g. 50" />
        </label>
        <label>
          Take a break
          <select value={pause} onChange={(e) => setPause(Number(e.target.value))}>
            {PAUSES.map((p) => (
              <option key={p.minutes} value={p.minutes}>
                {p.text}
              </option>
            ))}
          </select>
        </label>
        <button type="submit" className="btn" disabled={busy}>
          Save limits
        </button>
        <p className="muted small">A limit can be lowered at once; raising it takes effect after 24 hours.</p>
        {message !== null && (
          <p className={message.kind === 'error' ? 'error' : 'ok'} role={message.kind === 'error' ? 'alert' : 'status'}>
            {message.text}
          </p>
        )}
      </form>
    </section>
  );
}
