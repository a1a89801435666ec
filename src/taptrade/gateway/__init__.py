"""The gateway process: HTTP API (and WebSocket) for traders and bots. It checks every rule, submits money
commands to the ledger's intake and answers from the ledger's reply; it never writes SQLite."""
