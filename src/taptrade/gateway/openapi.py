"""The OpenAPI document at /api/openapi.json: FastAPI's, plus what the lean routes and msgspec shapes
add (the `POST /api/bets` operation, the Bet schemas, the error body on every error status)."""

from __future__ import annotations

from typing import Any

import msgspec
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from taptrade.gateway.schemas import BetAnswer, BetOnly, BetPage, BetRequest, ErrorAnswer

REF = "#/components/schemas/{name}"
_STRUCTS = (BetRequest, BetAnswer, BetOnly, BetPage, ErrorAnswer)


def _json(name: str) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": {"$ref": REF.format(name=name)}}}}


def error_doc(description: str = "error") -> dict[str, Any]:
    return {"description": description, **_json("ErrorAnswer")}


def doc_responses(ok_schema: str | None, *errors: int) -> dict[int | str, dict[str, Any]]:
    responses: dict[int | str, dict[str, Any]] = {status: error_doc() for status in errors}
    if ok_schema is not None:
        responses[200] = {"description": "OK", **_json(ok_schema)}
    return responses


PLACE_BET_OPERATION: dict[str, Any] = {
    "summary": "Place a bet",
    "description": "A signed bet on one cell (API.md). Confirmed only once durable in the ledger.",
    "operationId": "place_bet",
    "requestBody": {"required": True, **_json("BetRequest")},
    "responses": {
        "201": {"description": "confirmed", **_json("BetAnswer")},
        "200": {"description": "the same bet again: the stored result", **_json("BetAnswer")},
        **{str(status): error_doc() for status in (400, 401, 409, 413, 422, 429, 503, 504)},
    },
}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, routes=app.routes, servers=app.servers)
        _, components = msgspec.json.schema_components(_STRUCTS, ref_template=REF)
        doc.setdefault("components", {}).setdefault("schemas", {}).update(components)
        doc["paths"].setdefault("/api/bets", {})["post"] = PLACE_BET_OPERATION
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
