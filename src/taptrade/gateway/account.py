"""Sign-in (SIWE), sign-out, the trader's account, history and the demo faucet (API.md "Auth", "Bets")."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated

import msgspec
from fastapi import APIRouter, Depends, Header, Query, Request
from starlette.responses import Response

from taptrade import bus
from taptrade.auth.errors import AuthError, BadAuthRequest
from taptrade.auth.siwe_login import verify_login
from taptrade.bus import BusError, ReplyTimeout
from taptrade.commands import Deposit, SetLimits
from taptrade.gateway.errors import (
    ApiError,
    bad_request,
    not_applied,
    not_found,
    unauthorized,
    unavailable,
)
from taptrade.gateway.history import Account, ArchivedRange
from taptrade.gateway.openapi import doc_responses
from taptrade.gateway.schemas import (
    BetOnly,
    BetPage,
    FaucetAnswer,
    LedgerPage,
    Limits,
    LimitsRequest,
    LoginAnswer,
    LoginRequest,
    MeAnswer,
    NonceAnswer,
    api_bet,
    api_limits,
)
from taptrade.gateway.sessions import Session
from taptrade.gateway.state import GatewayState, bearer_token
from taptrade.limits import LimitState

router = APIRouter(prefix="/api")
_encoder = msgspec.json.Encoder()
PAGE_MAX = 200
BET_STATUSES = ("confirmed", "won", "lost", "void")


async def gateway(request: Request) -> GatewayState:
    # async on purpose: FastAPI runs a plain `def` dependency in its thread pool, and that hand-off (a
    # thread switch and the GIL passed back and forth) cost every read more than its own work under load.
    state: GatewayState = request.app.state.gateway
    return state


State = Annotated[GatewayState, Depends(gateway)]


async def current_session(state: State, authorization: Annotated[str | None, Header()] = None) -> Session:
    token = bearer_token(authorization)
    session = None if token is None else await state.sessions.lookup(token, state.clock.now_ms())
    if session is None:
        raise unauthorized("no_session", "sign in first: no valid session for this token")
    return session


CurrentSession = Annotated[Session, Depends(current_session)]


def json_response(value: object, status: int = 200) -> Response:
    return Response(_encoder.encode(value), status_code=status, media_type="application/json")


@router.get("/auth/nonce", response_model=NonceAnswer)
async def login_nonce(state: State) -> Response:
    nonce = secrets.token_hex(16)
    await state.redis.set(bus.login_nonce_key(nonce), 1, ex=bus.LOGIN_NONCE_TTL_S)
    expires_ms = state.clock.now_ms() + bus.LOGIN_NONCE_TTL_S * 1000
    return json_response({"nonce": nonce, "expires_ms": expires_ms})


@router.post("/auth/login", response_model=LoginAnswer, responses={401: {}, 400: {}})
async def login(body: LoginRequest, state: State) -> Response:
    settings, now_ms = state.settings, state.clock.now_ms()
    try:
        verified = verify_login(
            body.message,
            body.signature,
            allowed_domains=settings.siwe_domains,
            chain_id=settings.chain_id,
            now_ms=now_ms,
        )
    except BadAuthRequest as exc:
        raise bad_request(str(exc)) from None
    except AuthError as exc:
        raise unauthorized(exc.code, exc.message) from None
    # Single use, atomically: of two logins racing with one nonce, one gets it.
    if await state.redis.getdel(bus.login_nonce_key(verified.nonce)) is None:
        raise unauthorized("bad_nonce", "unknown, expired or already used nonce")
    expires_ms = now_ms + bus.SESSION_TTL_S * 1000
    if verified.expires_ms is not None:
        expires_ms = min(expires_ms, verified.expires_ms)
    token = await state.sessions.create(verified.address, verified.session_key_b64, expires_ms, now_ms)
    balance = _balance(state, verified.address)
    answer = {"token": token, "address": verified.address, "expires_ms": expires_ms, "balance": balance}
    return json_response(answer)


@router.post("/auth/logout", status_code=204, responses={401: {}})
async def logout(state: State, session: CurrentSession, authorization: Annotated[str, Header()]) -> Response:
    token = bearer_token(authorization)
    assert token is not None  # current_session accepted it
    await state.sessions.revoke(token)
    return Response(status_code=204)


@router.get("/me", response_model=MeAnswer, responses={401: {}})
async def me(state: State, session: CurrentSession) -> Response:
    account = _account(state, session.address)
    limit_state = LimitState() if account is None else account.limits
    answer = MeAnswer(
        address=session.address,
        balance=0 if account is None else account.balance,
        session_expires_ms=session.expires_ms,
        limits=api_limits(limit_state.record(state.clock.now_ms())),
    )
    return json_response(answer.model_dump())


@router.put("/me/limits", response_model=Limits, responses={400: {}, 401: {}, 503: {}, 504: {}})
async def set_limits(body: LimitsRequest, state: State, session: CurrentSession) -> Response:
    """Responsible play (taptrade.limits): lowering the loss limit or pausing takes effect at once; a
    raise or removal 24 hours later. Fields left out are left as they are."""
    command = SetLimits(
        address=session.address,
        set_limit="daily_loss_limit" in body.model_fields_set,
        daily_loss_limit=body.daily_loss_limit,
        pause_minutes=body.pause_minutes,
    )
    try:
        reply = await state.intake.submit(command)
    except ReplyTimeout:
        raise ApiError(504, "timeout", "the ledger did not answer in time; ask GET /api/me") from None
    except BusError:
        raise unavailable("the ledger is unreachable") from None
    if reply.code == "bad_command":
        raise bad_request(reply.message)
    if not reply.ok or reply.limits is None:
        raise not_applied(reply.code, reply.message, "the ledger could not set your limits")
    return json_response(api_limits(reply.limits).model_dump())


@router.get("/bets/{bet_id}", response_model=None, responses=doc_responses("BetOnly", 401, 404))
async def get_bet(bet_id: str, state: State, session: CurrentSession) -> Response:
    try:
        key = uuid.UUID(bet_id).bytes
    except ValueError:
        raise not_found("no such bet") from None
    try:
        found = state.history.bet(key)
    except FileNotFoundError:
        found = None
    if found is None or found[1] != session.address:
        raise not_found("no such bet")  # another user's bet is not found either
    return json_response(BetOnly(bet=api_bet(found[0], state.grid)))


@router.get("/bets", response_model=None, responses=doc_responses("BetPage", 400, 401, 410))
async def list_bets(
    state: State,
    session: CurrentSession,
    status: Annotated[str | None, Query()] = None,
    from_ms: Annotated[int | None, Query(ge=0, le=2**53)] = None,
    to_ms: Annotated[int | None, Query(ge=0, le=2**53)] = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
    cursor: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """Newest window first. `from_ms`/`to_ms` select bets whose window starts in [from_ms, to_ms)."""
    if status is not None and status not in BET_STATUSES:
        raise bad_request(f"status must be one of {', '.join(BET_STATUSES)}")
    before = _cell_cursor(cursor)
    column_ms = state.grid.column_ms
    column_from = None if from_ms is None else -(-from_ms // column_ms)
    column_to = None if to_ms is None else -(-to_ms // column_ms)
    account = _account(state, session.address)
    try:
        records = (
            []
            if account is None
            else state.history.bets(
                account.user_id,
                status=status,
                column_from=column_from,
                column_to=column_to,
                before=before,
                limit=limit,
            )
        )
    except ArchivedRange as exc:
        raise archived(exc) from None
    next_cursor = f"{records[-1].column}:{records[-1].row}" if len(records) == limit else None
    return json_response(BetPage(bets=[api_bet(r, state.grid) for r in records], next_cursor=next_cursor))


@router.get("/ledger", response_model=LedgerPage, responses={400: {}, 401: {}, 410: {}})
async def ledger(
    state: State,
    session: CurrentSession,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 50,
    cursor: Annotated[str | None, Query(max_length=20, pattern=r"^[0-9]+$")] = None,
) -> Response:
    account = _account(state, session.address)
    cursor_id = None if cursor is None else int(cursor)
    try:
        rows = (
            [] if account is None else state.history.ledger(account.user_id, before_id=cursor_id, limit=limit)
        )
    except ArchivedRange as exc:
        raise archived(exc) from None
    next_cursor = str(rows[-1].id) if len(rows) == limit else None
    return json_response({"entries": rows, "next_cursor": next_cursor})


@router.post("/demo/faucet", response_model=FaucetAnswer, responses={404: {}, 429: {}, 401: {}})
async def faucet(state: State, session: CurrentSession) -> Response:
    """Demo mode only: play money, at most once per 10 minutes per user."""
    if state.settings.mode != "demo":
        raise not_found("no faucet in production")
    key = bus.faucet_key(session.address)
    if not await state.redis.set(key, 1, nx=True, ex=bus.FAUCET_TTL_S):
        ttl_s = await state.redis.ttl(key)
        raise ApiError(429, "rate_limited", "the faucet gives once per 10 minutes", max(1, ttl_s))
    amount = state.settings.demo_faucet_cents
    command = Deposit(command_id=f"faucet:{uuid.uuid4()}", address=session.address, amount=amount,
                      reason="demo faucet")  # fmt: skip
    try:
        reply = await state.intake.submit(command)
    except ReplyTimeout:
        raise ApiError(504, "timeout", "the ledger did not answer in time") from None
    except BusError:
        await state.redis.delete(key)
        raise unavailable("the ledger is unreachable") from None
    if not reply.ok or reply.balance is None:
        await state.redis.delete(key)
        raise not_applied(reply.code, reply.message, "the faucet could not credit you")
    return json_response({"amount": amount, "balance": reply.balance})


def archived(exc: ArchivedRange) -> ApiError:
    return ApiError(410, "archived", str(exc))


def _account(state: GatewayState, address: str) -> Account | None:
    try:
        return state.history.account(address)
    except FileNotFoundError:
        return None


def _balance(state: GatewayState, address: str) -> int:
    account = _account(state, address)
    return 0 if account is None else account.balance


def _cell_cursor(cursor: str | None) -> tuple[int, int] | None:
    if cursor is None:
        return None
    column, sep, row = cursor.partition(":")
    if not (sep and column.isdigit() and row.isdigit()):
        raise bad_request("cursor must be the next_cursor of the previous page")
    return int(column), int(row)
