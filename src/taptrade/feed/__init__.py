"""The feed process: hears the exchange (or a simulator, or a recording), turns what it hears into ticks
in integer cents, 1 s bars, feed health with a circuit breaker, and quote tables, and publishes them."""
