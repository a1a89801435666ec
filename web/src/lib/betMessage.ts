/**
 * The canonical bet text (API.md "Bets"), mirrored from src/taptrade/auth/bet_message.py: the exact
 * UTF-8 text the session key signs. Lines joined by "\n", no trailing newline.
 */

export interface BetFields {
  bet_id: string;
  cell: string;
  amount: number;
  min_multiplier: string;
  nonce: string;
  timestamp: number;
  chain_id: number;
}

export function betMessage(fields: BetFields): string {
  for (const name of ['bet_id', 'cell', 'min_multiplier', 'nonce'] as const) {
    if (fields[name].includes('\n')) throw new Error(`${name} must not contain a line break`);
  }
  return [
    'Tap Trading Bet',
    'Action: place_bet',
    `Bet: ${fields.bet_id}`,
    `Cell: ${fields.cell}`,
    `Amount: ${fields.amount}`,
    `Min multiplier: ${fields.min_multiplier}`,
    `Nonce: ${fields.nonce}`,
    `Timestamp: ${fields.timestamp}`,
    `Chain: ${fields.chain_id}`,
    'Version: 1',
  ].join('\n');
}
