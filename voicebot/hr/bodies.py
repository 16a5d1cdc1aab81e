"""How the HR API reads request bodies, and the error statuses it documents in OpenAPI.

FastAPI parses a JSON body with `json.loads` on the event loop, which takes NaN and Infinity
(then fails to render its own 422: a 500), recurses into 20 000-deep arrays and blocks every
other request while it reads 10 MB. `SafeJSONRoute` reads bodies with `voicebot.safeload`
instead (every refusal a 422 naming the line) and parses big ones in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from voicebot.safeload import DocumentError, load_json

OFF_LOOP_BYTES = 256 * 1024  # bodies bigger than this are parsed in a thread


class ErrorOut(BaseModel):
    detail: str


class FieldError(BaseModel, extra="allow"):
    loc: list[str | int]
    msg: str
    type: str


class ValidationErrorOut(BaseModel):
    detail: list[FieldError]


_WHY: dict[int, str] = {
    400: "The body could not be read",
    401: "No bearer token, or an unknown or revoked one",
    403: "The token's role may not do this, or the candidate did not consent",
    404: "No such job, candidate, campaign or interview",
    409: "Conflicts with what is stored (a finished campaign, a store constraint)",
    413: "The body is larger than api.max_body_bytes",
    422: "Invalid body or parameters: each error names the field (loc) and the reason (msg)",
    503: "Calling is unavailable (the PBX cannot be reached); the detail names it",
}


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: every error status it really returns, with its shape."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        if code == 413:  # Starlette's body limit answers in plain text
            text = {"text/plain": {"schema": {"type": "string"}}}
            out[code] = {"description": _WHY[code], "content": text}
        elif code == 422:
            out[code] = {"description": _WHY[code], "model": ValidationErrorOut}
        else:
            out[code] = {"description": _WHY[code], "model": ErrorOut}
    return out


def invalid(errors: list[tuple[list[str | int], str]]) -> HTTPException:
    """A 422 in FastAPI's own shape, so clients parse one format for every validation error."""
    return HTTPException(
        422,
        detail=[{"loc": ["body", *loc], "msg": msg, "type": "value_error"} for loc, msg in errors],
    )


class _SafeJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                if len(body) > OFF_LOOP_BYTES:
                    self._json = await asyncio.to_thread(load_json, body, "body")
                else:
                    self._json = load_json(body, "body")
            except DocumentError as e:
                at = f"line {e.line}: " if e.line else ""
                raise invalid([([], f"{at}{e.why}")]) from None
        return self._json


class SafeJSONRoute(APIRoute):
    """A route whose JSON body is read by `voicebot.safeload` (see the module docstring)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def safe(request: Request) -> Response:
            return await handler(_SafeJSONRequest(request.scope, request.receive, request._send))

        return safe
