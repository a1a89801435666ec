"""Authentication primitives (DESIGN §8): pure functions, no I/O, no Redis, no clock of their own.

- `siwe_login`: verifies a Sign-In with Ethereum (EIP-4361) login and the session key it carries.
- `session_keys`: loads a browser's P-256 session key and checks the bet signatures it makes.
- `eip191`: `personal_sign` hashing and signer recovery, for logins and for bots that sign each bet.
- `bet_message`: the canonical text a bet signature covers, shared with the web client and bots.
- `errors`: what the gateway turns into 401 and 400 answers.

Nonces, sessions and timestamps of bets are the gateway's: it owns Redis and the clock.
"""
