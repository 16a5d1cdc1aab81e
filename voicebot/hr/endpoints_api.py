"""Webhook endpoints over the API (an `hr` token): an ATS registers its own receiver, gets the
signing secret once, rotates it, sends itself a test event, and backfills what it missed."""

# no `from __future__ import annotations`: FastAPI must resolve the route-local annotations
import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException
from pydantic import BaseModel, Field, field_validator

from voicebot.campaigns.payloads import iso
from voicebot.config import Config
from voicebot.hr.bodies import responses
from voicebot.hr.webhooks import EVENT_TYPES, new_secret
from voicebot.store import Store
from voicebot.store import endpoints as admin
from voicebot.store import hr as db


def _types(value: list[str]) -> list[str]:
    bad = [t for t in value if t not in EVENT_TYPES]
    if bad:
        raise ValueError(f"unknown event types {bad}; choose from {', '.join(EVENT_TYPES)}")
    return value


class EndpointIn(BaseModel):
    url: str = Field(min_length=8, max_length=2000, pattern=r"^https?://[^\s]+$")
    event_types: list[str] = Field(default_factory=list, max_length=len(EVENT_TYPES),
                                   description="Empty: every event")  # fmt: skip

    _check = field_validator("event_types")(_types)


class EndpointOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    enabled: bool
    disabled_reason: str | None
    created_at: str | None = Field(description="ISO 8601, UTC")


class EndpointCreated(EndpointOut):
    secret: str = Field(description="whsec_…: shown this once; verify deliveries with it")


class SecretRotated(BaseModel):
    id: str
    secret: str
    old_secret_valid_until: str = Field(description="ISO 8601, UTC")


class BackfillIn(BaseModel):
    since: datetime | None = Field(default=None, description="ISO 8601; default: the start")
    until: datetime | None = Field(default=None, description="ISO 8601; default: now")
    event_types: list[str] = Field(default_factory=list, max_length=len(EVENT_TYPES))

    _check = field_validator("event_types")(_types)


class Queued(BaseModel):
    endpoint_id: str
    queued: int


class Removed(BaseModel):
    endpoint_id: str
    cancelled: int = Field(description="Pending deliveries that will not be sent")


class TestQueued(BaseModel):
    endpoint_id: str
    event_id: str = Field(description="The webhook-id the receiver will see")


def _out(e: dict[str, Any]) -> dict[str, Any]:
    return {**{k: e[k] for k in ("id", "url", "event_types", "enabled", "disabled_reason")},
            "created_at": iso(e["created_at"])}  # fmt: skip


def _stamp(t: datetime | None) -> float | None:
    """A naive time is UTC (an ATS that omits the offset means the API's own zone)."""
    if t is None:
        return None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def add_routes(app: FastAPI, store: Store, cfg: Config, hr_auth: Any) -> None:
    Hr = Annotated[str, Depends(hr_auth)]
    codes = responses(401, 403, 404, 422)

    async def _known(endpoint_id: str) -> dict[str, Any]:
        found = await admin.get_endpoint(store, endpoint_id)
        if found is None:
            raise HTTPException(404, f"webhook endpoint {endpoint_id} not found")
        return found

    @app.get("/webhooks/endpoints", response_model=list[EndpointOut],
             responses=responses(401, 403))  # fmt: skip
    async def list_endpoints(_: Hr) -> list[dict[str, Any]]:
        return [_out(e) for e in await db.list_endpoints(store)]

    @app.post("/webhooks/endpoints", status_code=201, response_model=EndpointCreated,
              responses=responses(401, 403, 413, 422))  # fmt: skip
    async def add_endpoint(body: EndpointIn, _: Hr) -> dict[str, Any]:
        """Register a receiver; the answer holds its signing secret, shown this once."""
        secret = new_secret()
        eid = await db.add_endpoint(store, body.url, secret, body.event_types)
        return {**_out(await _known(eid)), "secret": secret}

    @app.get("/webhooks/endpoints/{endpoint_id}", response_model=EndpointOut, responses=codes)
    async def get_endpoint(endpoint_id: str, _: Hr) -> dict[str, Any]:
        return _out(await _known(endpoint_id))

    @app.delete("/webhooks/endpoints/{endpoint_id}", response_model=Removed, responses=codes)
    async def remove_endpoint(endpoint_id: str, _: Hr) -> dict[str, Any]:
        """Remove the receiver and cancel its pending deliveries."""
        await _known(endpoint_id)
        cancelled = await admin.remove_endpoint(store, endpoint_id)
        return {"endpoint_id": endpoint_id, "cancelled": cancelled}

    @app.post("/webhooks/endpoints/{endpoint_id}/rotate", response_model=SecretRotated,
              responses=codes)  # fmt: skip
    async def rotate(endpoint_id: str, _: Hr) -> dict[str, Any]:
        """A new secret; deliveries carry both signatures for webhooks.rotation_overlap_s."""
        await _known(endpoint_id)
        secret, overlap = new_secret(), cfg.webhooks.rotation_overlap_s
        await db.rotate_secret(store, endpoint_id, secret, overlap)
        until = iso(time.time() + overlap)
        return {"id": endpoint_id, "secret": secret, "old_secret_valid_until": until}

    @app.post("/webhooks/endpoints/{endpoint_id}/test", status_code=202,
              response_model=TestQueued, responses=codes)  # fmt: skip
    async def test_event(endpoint_id: str, _: Hr) -> dict[str, Any]:
        """A signed `webhook.test` event to this receiver alone (re-enables it)."""
        await _known(endpoint_id)
        payload = {"endpoint_id": endpoint_id, "message": "voicebot webhook test"}
        return {"endpoint_id": endpoint_id,
                "event_id": await admin.send_test(store, endpoint_id, payload)}  # fmt: skip

    @app.post("/webhooks/endpoints/{endpoint_id}/backfill", status_code=202,
              response_model=Queued, responses=codes)  # fmt: skip
    async def backfill(endpoint_id: str, _: Hr, body: BackfillIn | None = None) -> dict[str, Any]:
        """Earlier events this receiver wants and never got, queued in order, each under its
        original webhook-id (a receiver that has one already drops it as a duplicate)."""
        await _known(endpoint_id)
        body = body or BackfillIn()
        n = await admin.backfill(
            store, endpoint_id, since=_stamp(body.since) or 0.0, until=_stamp(body.until),
            event_types=body.event_types,
        )  # fmt: skip
        return {"endpoint_id": endpoint_id, "queued": n}
