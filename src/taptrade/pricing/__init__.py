"""Pricing (DESIGN §5): turns the current price, the recent volatility and a block of grid cells into
touch probabilities and integer multipliers. Pure computation, no I/O.

- `model`: the market state, the `QuoteModel` interface and `load_model("module:Class")`.
- `touch`: the default model, a driftless Brownian path touching a band (reflection principle).
- `volatility`: the EWMA volatility estimate fed with closed 1 s bars.
- `quotes`: probabilities to multipliers (house edge, floor to 1e-4, clip), and one full quote table.
"""
