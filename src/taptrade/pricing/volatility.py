"""The volatility the quote model is given: an exponentially weighted mean of squared 1-second price changes
(close to close, one closed bar per second), in cents per sqrt(second), seeded with a prior and floored."""

from __future__ import annotations

import math

# Bitcoin trades around the clock: annualised volatility converts to per-second with every second of a year.
SECONDS_PER_YEAR = 365 * 24 * 3600


def annualised_to_cents_per_sqrt_s(annualised: float, price_cents: int) -> float:
    """A volatility quoted per year as a fraction of the price (0.5 = 50 %) -> cents per sqrt(second)."""
    return price_cents * annualised / math.sqrt(SECONDS_PER_YEAR)


class EwmaVolatility:
    """Fed every closed 1 s bar's close in order (a bar with no trades repeats the previous close, so a
    quiet second counts as a change of 0); `sigma_cents_per_sqrt_s()` is the square root of the EWMA of
    squared changes, never below the floor.

    - `half_life_s`: a change's weight halves after this many further bars (default 60 s: a minute of
      calm halves the variance, a burst shows within seconds).
    - `prior_annualised`: the variance before any change is seen, as a fraction of the price per year
      (default 50 %, ordinary for BTC; the recorded 5 minutes in tests/data show about 65 %).
    - `floor_annualised`: the least volatility ever returned, relative to the latest close (default 20 %,
      about $2.14 per sqrt(s) at $60,000). A lulled estimate after a quiet minute would price far cells
      at huge multipliers just before the market wakes up, and would make the price's own band look
      near-certain. At 20 % the model never puts a placeable cell (two or more columns ahead) above
      p = 0.894, so even the 1.10x minimum multiplier keeps an expected return below 100 %; below about
      18.6 % it would not. BTC's realised volatility is seldom that low.
    """

    def __init__(
        self,
        price_cents: int,
        *,
        half_life_s: float = 60.0,
        prior_annualised: float = 0.5,
        floor_annualised: float = 0.2,
    ) -> None:
        if price_cents <= 0:
            raise ValueError(f"price must be positive, got {price_cents} cents")
        if not (half_life_s > 0 and math.isfinite(half_life_s)):
            raise ValueError(f"half_life_s must be positive, got {half_life_s}")
        if not (prior_annualised >= 0 and floor_annualised >= 0):
            raise ValueError("prior_annualised and floor_annualised must not be negative")
        self._decay = 0.5 ** (1.0 / half_life_s)  # weight kept per 1 s bar
        self._variance = annualised_to_cents_per_sqrt_s(prior_annualised, price_cents) ** 2
        self._floor_annualised = floor_annualised
        self._price_cents = price_cents  # the latest close; scales the floor
        self._last_close: int | None = None  # the first bar only sets the reference

    def update(self, close_cents: int) -> None:
        """One closed 1 s bar."""
        if close_cents <= 0:
            raise ValueError(f"close must be positive, got {close_cents} cents")
        if self._last_close is not None:
            change = close_cents - self._last_close
            self._variance = self._decay * self._variance + (1.0 - self._decay) * change * change
        self._last_close = close_cents
        self._price_cents = close_cents

    def floor_cents_per_sqrt_s(self) -> float:
        return annualised_to_cents_per_sqrt_s(self._floor_annualised, self._price_cents)

    def sigma_cents_per_sqrt_s(self) -> float:
        return max(math.sqrt(self._variance), self.floor_cents_per_sqrt_s())
