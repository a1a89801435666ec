"""Placing a bet (DESIGN §4, API.md `POST /api/bets`): the hot path, kept lean — msgspec in and out, no
per-request dependency injection, one Redis round trip before the ledger. Served by `gateway.fast_lane`
ahead of the web framework.

Order of checks: shape (400) -> who signed it (401: signature, then chain, then timestamp) -> rules by
the server's clock and market view (422/503) -> the bet guard in Redis (session still alive, nonce
unused, rate limit, backlog) -> the ledger's reply (201/200/409/422) or its absence (504). Nothing the
client sends is trusted beyond its signed fields: bounds, times and the multiplier come from the server.
"""

from __future__ import annotations

import re
import time

import msgspec
from redis.exceptions import RedisError

from taptrade import bus
from taptrade.auth.bet_message import bet_message
from taptrade.auth.eip191 import normalise_address, parse_signature_hex, recover_address
from taptrade.auth.errors import AuthError
from taptrade.auth.session_keys import verify_session_signature
from taptrade.bus import (
    BetGuard,
    BusUnavailable,
    IntakeFull,
    NoSession,
    RateLimited,
    ReplayedNonce,
    ReplyTimeout,
)
from taptrade.commands import PlaceBet, Reply
from taptrade.gateway.errors import (
    LEDGER_STATUS,
    ApiError,
    bad_request,
    feed_stale,
    not_applied,
    rule,
    unauthorized,
    unavailable,
)
from taptrade.gateway.schemas import BetAnswer, BetRequest, api_bet
from taptrade.gateway.state import GatewayState, bearer_token
from taptrade.grid import parse_cell
from taptrade.money import parse_multiplier
from taptrade.obs.logging import get_logger

log = get_logger(__name__)

BET_ID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
NONCE_RE = re.compile(r"[A-Za-z0-9_-]{8,64}")
SIGNATURE_MAX_LEN = 200

_decoder = msgspec.json.Decoder(BetRequest)
_encoder = msgspec.json.Encoder()


async def place_bet(state: GatewayState, body: bytes, authorization: str | None) -> tuple[int, bytes]:
    """The answer's status and JSON body; refusals raise ApiError."""
    started = time.perf_counter()
    try:
        req = _decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise bad_request(f"invalid bet: {exc}") from None
    except msgspec.DecodeError:
        raise bad_request("the body is not JSON") from None
    now_ms = state.clock.now_ms()
    column, row, min_multiplier_e4 = _check_shape(req)
    bet_id = req.bet_id.lower()
    address, session_redis_key = await _signer(state, req, authorization, now_ms)
    settings = state.settings
    if req.chain_id != settings.chain_id:
        raise unauthorized("wrong_chain", f"this server takes chain {settings.chain_id}")
    if abs(req.timestamp * 1000 - now_ms) > settings.bet_timestamp_window_s * 1000:
        raise unauthorized("stale_timestamp", "timestamp too far from the server's clock")

    try:
        multiplier_e4, quote_id = _check_rules(state, req, column, row, min_multiplier_e4, now_ms)
    except ApiError as refusal:
        # A retry of a bet that is already stored is answered with it, whatever the market does now.
        return _stored_or(state, refusal, bet_id, address, column, row, req.amount)

    command = PlaceBet(
        bet_id=bet_id,
        address=address,
        column=column,
        row=row,
        amount=req.amount,
        multiplier_e4=multiplier_e4,
        quote_id=quote_id,
        placed_ms=now_ms,
    )
    guard = BetGuard(
        session_key=session_redis_key,
        nonce_key=bus.bet_nonce_key(address, req.nonce),
        rate_key=bus.rate_key(address),
        rate_per_s=settings.bet_rate_per_s,
        burst=settings.bet_burst,
    )
    try:
        reply = await _submit(state, command, guard)
    except ApiError as refusal:
        # Refused by the guard, or no answer in time (504): the line says so, for a dispute about it.
        _log_bet(refusal.code, command, req, min_multiplier_e4, started)
        raise
    _log_bet(reply.code, command, req, min_multiplier_e4, started, reply)
    return _answer(state, reply)


def _log_bet(
    code: str,
    command: PlaceBet,
    req: BetRequest,
    min_multiplier_e4: int,
    started: float,
    reply: Reply | None = None,
) -> None:
    log.info(
        "bet",
        code=code,
        bet_id=command.bet_id,
        address=command.address,
        cell=req.cell,
        amount=req.amount,
        multiplier_e4=command.multiplier_e4,
        min_multiplier_e4=min_multiplier_e4,
        quote_id=command.quote_id,
        placed_ms=command.placed_ms,
        balance=None if reply is None else reply.balance,
        duplicate=False if reply is None else reply.duplicate,
        ms=round((time.perf_counter() - started) * 1000, 2),
    )


def _check_shape(req: BetRequest) -> tuple[int, int, int]:
    if not BET_ID_RE.fullmatch(req.bet_id):
        raise bad_request("bet_id must be a UUID")
    if not NONCE_RE.fullmatch(req.nonce):
        raise bad_request("nonce must be 8-64 characters of A-Z, a-z, 0-9, - or _")
    if len(req.signature) > SIGNATURE_MAX_LEN:
        raise bad_request("signature too long")
    try:
        cell = parse_cell(req.cell)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    try:
        min_multiplier_e4 = parse_multiplier(req.min_multiplier)
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    return cell.column, cell.row, min_multiplier_e4


async def _signer(
    state: GatewayState, req: BetRequest, authorization: str | None, now_ms: int
) -> tuple[str, str]:
    """Who signed the bet: (address, Redis key of the session or "" for a wallet-signed bet)."""
    message = bet_message(
        bet_id=req.bet_id,
        cell=req.cell,
        amount=req.amount,
        min_multiplier=req.min_multiplier,
        nonce=req.nonce,
        timestamp=req.timestamp,
        chain_id=req.chain_id,
    ).encode()
    try:
        if req.scheme == "session":
            if req.address is not None:
                raise bad_request("address goes only with scheme eip191")
            token = bearer_token(authorization)
            try:
                session = None if token is None else await state.sessions.lookup(token, now_ms, confirm=False)
            except RedisError:  # Redis down, or every pooled connection busy for the pool's timeout
                raise unavailable("the session store is unreachable") from None
            if session is None:
                raise unauthorized("no_session", "sign in first: no valid session for this token")
            verify_session_signature(session.key, message, req.signature)
            return session.address, session.redis_key
        try:
            address = normalise_address(req.address or "")
        except ValueError:
            raise bad_request("scheme eip191 needs the signing address (0x and 40 hex digits)") from None
        if recover_address(message, parse_signature_hex(req.signature)) != address:
            raise unauthorized("bad_signature", "the signature is not by this address")
        return address, ""
    except AuthError as exc:
        raise unauthorized(exc.code, exc.message) from None


def _check_rules(
    state: GatewayState, req: BetRequest, column: int, row: int, min_multiplier_e4: int, now_ms: int
) -> tuple[int, int]:
    if req.amount not in state.stake_presets:
        raise rule("bad_stake", f"stake must be one of {sorted(state.stake_presets)} cents")
    if not state.grid.is_placeable(column, now_ms):
        raise rule("cell_not_placeable", "too late for this column (or too far ahead)")
    market = state.market
    if not market.betting_open(now_ms) or not market.quotes_fresh(now_ms):
        # No fresh quote table (the feed or Redis is behind): a moment's unavailability, not a refusal
        # of this cell, so 503 with Retry-After rather than 422 `no_quote`.
        raise feed_stale()
    quote = market.quote(column, row, now_ms)
    if quote is None:
        raise rule("no_quote", "this cell has no current multiplier")
    multiplier_e4, quote_id = quote
    if multiplier_e4 < min_multiplier_e4:
        raise rule("multiplier_moved", "the multiplier moved below your minimum")
    return multiplier_e4, quote_id


def _stored_or(
    state: GatewayState, refusal: ApiError, bet_id: str, address: str, column: int, row: int, amount: int
) -> tuple[int, bytes]:
    try:
        found = state.history.bet(bytes.fromhex(bet_id.replace("-", "")))
    except FileNotFoundError:
        found = None
    if found is None:
        raise refusal
    record, owner = found
    if (owner, record.column, record.row, record.amount) != (address, column, row, amount):
        raise ApiError(409, "bet_id_conflict", "this bet_id names another bet")
    answer = BetAnswer(bet=api_bet(record, state.grid), balance=state.history.balance(address))
    return 200, _encoder.encode(answer)


async def _submit(state: GatewayState, command: PlaceBet, guard: BetGuard) -> Reply:
    try:
        return await state.intake.submit_bet(command, guard)
    except NoSession:
        raise unauthorized("no_session", "the session has ended; sign in again") from None
    except ReplayedNonce:
        raise unauthorized("replayed_nonce", "this nonce was used already") from None
    except RateLimited as exc:
        raise ApiError(429, "rate_limited", "too many bets; slow down", exc.retry_after_ms / 1000) from None
    except IntakeFull:
        raise unavailable("the ledger is busy; try again shortly") from None
    except BusUnavailable:
        raise unavailable("the bet queue is unreachable") from None
    except ReplyTimeout:
        raise ApiError(
            504, "timeout", f"no answer in time; ask GET /api/bets/{command.bet_id} before retrying"
        ) from None


def _answer(state: GatewayState, reply: Reply) -> tuple[int, bytes]:
    if reply.ok and reply.bet is not None and reply.balance is not None:
        answer = BetAnswer(bet=api_bet(reply.bet, state.grid), balance=reply.balance)
        return (200 if reply.duplicate else 201), _encoder.encode(answer)
    refusal_status = LEDGER_STATUS.get(reply.code)
    if refusal_status is None:
        raise not_applied(reply.code, reply.message, "the ledger could not take this bet")
    raise ApiError(refusal_status, reply.code, reply.message or reply.code)
