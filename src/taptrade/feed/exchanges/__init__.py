"""Real-exchange price sources: WebSocket clients that turn an exchange's messages into the feed's events.

- `base.ExchangeSource`: the reconnecting client loop shared by every exchange (limits, receive timeout,
  backoff, malformed-frame and duplicate handling, counters).
- `binance.BinanceSource`: Binance spot combined streams (`@trade` or `@aggTrade`, `@bookTicker`).
- `coinbase.CoinbaseSource`: Coinbase Exchange `matches` and `heartbeat` channels.
"""
