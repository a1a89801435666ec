/** Words for the trader: why a bet was refused, and how the feed is doing. */
import { ApiError } from '../lib/api';

const BET_REASONS: Record<string, string> = {
  insufficient_funds: 'Insufficient balance',
  cell_not_placeable: 'Too late for this column',
  multiplier_moved: 'Multiplier moved',
  loss_limit: 'Daily loss limit reached',
  cooling_down: 'Cooling down',
};

/** A refused bet's short reason: the known codes in plain words, otherwise the API's own message. */
export function rejectionReason(error: unknown): string {
  if (error instanceof ApiError) return BET_REASONS[error.code] ?? error.message;
  return error instanceof Error ? error.message : String(error);
}

/** Whether a failed bet request may still have been placed (no answer, or the server timed out). */
export function outcomeUnknown(error: unknown): boolean {
  return error instanceof ApiError && (error.status === 0 || error.status === 504);
}

/** A failed limits update, in plain words; the endpoint may not exist on an older server. */
export function limitsError(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 404 || error.status === 405) return 'This server cannot change limits yet.';
    return BET_REASONS[error.code] ?? error.message;
  }
  return String(error);
}
