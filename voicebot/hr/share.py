"""The routes of share links (voicebot/sharing.py signs and checks them): `POST
/interviews/{id}/share` mints one, `/share/{token}/report.html` and `/recording` open it."""

# no `from __future__ import annotations`: FastAPI must resolve the route-local annotations
from typing import Any

from voicebot.sharing import DEFAULT_TTL_S, MAX_TTL_S, Share, ShareError, describe, sign, verify


def add_routes(app: Any, store: Any, cfg: Any, hr_auth: Any) -> None:
    """`POST /interviews/{id}/share` (an hr token) mints a link; `/share/{token}/...` opens it
    with no token. A bad link is 404 and an expired one 410, each a page a person can read."""
    from typing import Annotated

    from fastapi import Depends, HTTPException
    from fastapi.responses import FileResponse, HTMLResponse
    from pydantic import BaseModel, Field

    from voicebot.hr.bodies import responses
    from voicebot.scoring.pipeline import report_page
    from voicebot.store.reports import get_report

    class ShareIn(BaseModel):
        ttl_s: float = Field(default=DEFAULT_TTL_S, gt=0, le=MAX_TTL_S, allow_inf_nan=False)

    class ShareOut(BaseModel):
        interview_id: str
        url: str = Field(description="Opens the report page with no token until expires_at")
        expires_at: str = Field(description="ISO 8601, UTC")

    def opened(token: str) -> Share:
        try:
            return verify(store.pii, token)
        except ShareError as e:
            raise HTTPException(410 if e.gone else 404, str(e)) from None

    @app.post(
        "/interviews/{call_id}/share", response_model=ShareOut,
        responses=responses(401, 403, 404, 422),
    )  # fmt: skip
    async def share(
        call_id: str, _: Annotated[str, Depends(hr_auth)], body: ShareIn | None = None
    ) -> dict[str, Any]:
        """A signed link to the report for someone without a token (the ATS's recruiter)."""
        if await get_report(store, call_id) is None:
            raise HTTPException(404, f"report of interview {call_id} not found")
        ttl = body.ttl_s if body else DEFAULT_TTL_S
        token = sign(store.pii, call_id, ttl)
        return describe(cfg.api.public_url, token, verify(store.pii, token))

    @app.get(
        "/share/{token}/report.html", response_class=HTMLResponse,
        responses={404: responses(404)[404], 410: {"description": "The link has expired"}},
    )  # fmt: skip
    async def shared_report(token: str) -> HTMLResponse:
        try:
            s = verify(store.pii, token)
        except ShareError as e:
            return HTMLResponse(_page(str(e)), status_code=410 if e.gone else 404)
        html = await report_page(store, s.call_id, recordings_dir=cfg.api.recordings_dir)
        if html is None:
            return HTMLResponse(_page("this report no longer exists"), status_code=404)
        return HTMLResponse(html, headers={"Cache-Control": "private, no-store",
                                           "Referrer-Policy": "no-referrer"})  # fmt: skip

    @app.get(
        "/share/{token}/recording", response_class=FileResponse,
        responses={200: {"content": {"audio/wav": {}}}, **responses(403, 404),
                   410: {"description": "The link has expired"}},
    )  # fmt: skip
    async def shared_recording(token: str) -> FileResponse:
        return FileResponse(await recording_file(store, cfg, opened(token).call_id),
                            media_type="audio/wav")  # fmt: skip


async def recording_file(store: Any, cfg: Any, call_id: str) -> Any:
    """The consented recording's path, or the HTTP error that says why there is none."""
    from pathlib import Path

    from fastapi import HTTPException

    from voicebot.store import hr as db

    call = await store.get_call(call_id)
    if call is None:
        raise HTTPException(404, f"interview {call_id} not found")
    cand = await db.get_candidate(store, call["candidate_id"]) if call["candidate_id"] else None
    if not (cand and cand["consent_recording"] and call["consent"]):
        raise HTTPException(403, "the candidate did not consent to recording")
    path = Path(cfg.api.recordings_dir) / f"{call_id}.wav"
    if not path.is_file():
        raise HTTPException(404, f"no recording for interview {call_id}")
    return path


def _page(message: str) -> str:
    from html import escape

    return (
        '<!doctype html><html lang="en"><meta charset="utf-8"><title>Report link</title>'
        f"<body><main><h1>Report link</h1><p>{escape(message)}</p></main></body></html>"
    )
