import { useState } from 'react';
import { useAppState, useController } from '../app/context';
import { formatCents } from '../lib/money';
import { shortAddress } from '../lib/format';

/** Brand, feed and mode badges, balance, faucet, sound toggle, account. */
export function Header() {
  const controller = useController();
  const state = useAppState();
  const [sound, setSound] = useState(controller.feedback.enabled);
  const grid = state.grid;
  const feed = feedText(state);
  return (
    <header className="header">
      <div className="brand">
        <span className="logo" aria-hidden="true">◆</span> Tap Trading
        {grid?.feed === 'simulated' && <span className="badge badge-warn">SIMULATED PRICES</span>}
        {grid?.mode === 'demo' && <span className="badge">DEMO</span>}
      </div>
      <div className="header-right">
        <span className={`feed feed-${feed.kind}`} data-testid="feed-status" data-status={feed.kind} title={feed.title}>
          <span className="dot" aria-hidden="true" /> {feed.text}
        </span>
        {state.session !== null && (
          <>
            <span className="balance" data-testid="balance" aria-label="Balance">
              {state.balance === null ? '…' : formatCents(state.balance)}
            </span>
            {grid?.mode === 'demo' && (
              <button type="button" className="btn btn-small" data-testid="faucet" onClick={() => void controller.faucet()}>
                + Play money
              </button>
            )}
          </>
        )}
        <button
          type="button"
          className="btn btn-small btn-ghost"
          aria-pressed={sound}
          aria-label="Sound and vibration"
          title="Sound and vibration"
          onClick={() => {
            controller.feedback.setEnabled(!sound);
            setSound(!sound);
          }}
        >
          <SpeakerIcon on={sound} /> <span className="sr-hide-narrow">Sound</span>
        </button>
        {state.session !== null && (
          <button type="button" className="btn btn-small btn-ghost" onClick={() => void controller.signOut()} title={state.session.address}>
            <span className="sr-hide-narrow">{shortAddress(state.session.address)} · </span>Sign out
          </button>
        )}
      </div>
    </header>
  );
}

function feedText(state: ReturnType<typeof useAppState>): { kind: string; text: string; title: string } {
  const status = state.status;
  if (status === null) return { kind: 'offline', text: 'Connecting…', title: 'Opening the live connection' };
  if (!state.connected) return { kind: 'offline', text: 'Reconnecting…', title: 'The live connection is down' };
  if (status.betting === 'suspended') return { kind: 'critical', text: 'Suspended', title: 'Betting suspended: price feed critical' };
  if (status.priceFeed === 'healthy') return { kind: 'healthy', text: 'Live', title: 'Price feed healthy' };
  return { kind: status.priceFeed, text: status.priceFeed === 'degraded' ? 'Degraded' : 'Critical', title: `Price feed ${status.priceFeed}` };
}

function SpeakerIcon({ on }: { on: boolean }) {
  return (
    <svg width="16" height="16" viewBox="0 0 16 16" aria-hidden="true" style={{ verticalAlign: '-3px' }}>
      <path d="M2 6h3l4-3v10l-4-3H2z" fill="currentColor" />
      {on ? (
        <path d="M11 5.5a3.5 3.5 0 0 1 0 5M12.5 3.5a6 6 0 0 1 0 9" stroke="currentColor" strokeWidth="1.4" fill="none" />
      ) : (
        <path d="M11 6l4 4M15 6l-4 4" stroke="currentColor" strokeWidth="1.4" />
      )}
    </svg>
  );
}
