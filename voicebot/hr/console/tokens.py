"""Token management over the API (hr tokens only): create with a role and an expiry, list
without secrets, revoke by id. `voicebot tokens list|revoke|create` do the same offline."""

# no `from __future__ import annotations`: FastAPI must resolve the route-local aliases
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field

from voicebot.hr.bodies import responses
from voicebot.store import Store, accounts

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_EXPIRY_S = 5 * 365 * 86400.0


def parse_duration(text: str) -> float:
    """'30d', '12h', '90m', '3600' (seconds) as seconds; ValueError saying what is accepted."""
    m = _DURATION.match(text)
    seconds = float(m.group(1)) * _UNIT_S[m.group(2)] if m else 0.0
    if not m or seconds <= 0 or seconds > MAX_EXPIRY_S:
        raise ValueError(
            f"expires: {text!r} is not a duration like 30d, 12h or 90m (at most 5 years)"
        )
    return seconds


class TokenIn(BaseModel):
    role: Literal["hr", "system", "readonly"]
    label: str = Field(default="", max_length=200)
    expires_in: str | None = Field(default=None, description="30d, 12h, 90m; null: never")


class TokenItem(BaseModel):
    id: str
    role: str
    label: str
    state: str = Field(description="live, expired or revoked")
    created_at: str
    expires_at: str | None
    last_used_at: str | None
    revoked_at: str | None


class TokenCreated(TokenItem):
    token: str = Field(description="The bearer token, shown this once")


def item(r: dict[str, Any]) -> dict[str, Any]:
    times = ("created_at", "expires_at", "last_used_at", "revoked_at")
    return {"id": r["id"], "role": r["role"], "label": r["name"], "state": r["state"],
            **{k: accounts.iso(r[k]) for k in times}}  # fmt: skip


def add_routes(app: FastAPI, store: Store, hr_role: Callable[..., Awaitable[str]]) -> None:
    HrAuth = Annotated[str, Depends(hr_role)]

    @app.get("/tokens", response_model=list[TokenItem], responses=responses(401, 403))
    async def tokens(_: HrAuth) -> list[dict[str, Any]]:
        """Every token, never its secret: role, label, created, expires, last used."""
        return [item(r) for r in await accounts.list_tokens(store)]

    @app.post(
        "/tokens", status_code=201, response_model=TokenCreated,
        responses=responses(401, 403, 422),
    )  # fmt: skip
    async def create(body: TokenIn, _: HrAuth) -> dict[str, Any]:
        expires = None
        if body.expires_in is not None:
            try:
                expires = parse_duration(body.expires_in)
            except ValueError as e:
                raise HTTPException(
                    422, [{"loc": ["body", "expires_in"], "msg": str(e), "type": "value_error"}]
                ) from None
        tid, token = await accounts.create_token(store, body.label, body.role, expires)
        (row,) = [r for r in await accounts.list_tokens(store) if r["id"] == tid]
        return {**item(row), "token": token}

    @app.delete("/tokens/{token_id}", response_model=TokenItem, responses=responses(401, 403, 404))
    async def revoke(token_id: str, _: HrAuth) -> dict[str, Any]:
        """Revoke at once: the token and the console sessions signed in with it stop working."""
        if not await accounts.revoke_token(store, token_id):
            raise HTTPException(404, f"token {token_id} not found")
        (row,) = [r for r in await accounts.list_tokens(store) if r["id"] == token_id]
        return item(row)
