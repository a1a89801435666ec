"""The ledger process: the only writer of live.db. Everything that changes money passes through here."""
