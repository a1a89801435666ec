import { useAppState, useController } from '../app/context';
import { formatCentsShort } from '../lib/money';

/** The stake presets: a tap bets the selected one. */
export function StakeBar() {
  const controller = useController();
  const { grid, stake } = useAppState();
  if (grid === null) return null;
  return (
    <div className="stakes" role="radiogroup" aria-label="Stake per tap">
      <span className="stakes-label">Stake</span>
      {grid.stake_presets_cents.map((cents) => (
        <button
          key={cents}
          type="button"
          role="radio"
          aria-checked={stake === cents}
          className={`btn stake ${stake === cents ? 'stake-on' : ''}`}
          data-testid={`stake-${cents}`}
          onClick={() => controller.selectStake(cents)}
        >
          {formatCentsShort(cents)}
        </button>
      ))}
    </div>
  );
}
