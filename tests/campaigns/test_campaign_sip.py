"""A campaign over direct SIP with real phones: kamailio as the registrar, baresip as the
candidate who answers, a second candidate whose phone is off; the real interviewer (whisper,
piper) talks to the one who answers. Each is dialled exactly once, outcomes and webhook
events are recorded, and the campaign ends done."""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from tests.hr.helpers import JOB_FILE, JOB_ID
from tests.peers import Baresip
from voicebot.campaigns.dialer import Dialer
from voicebot.campaigns.settings import parse_settings
from voicebot.config import Config
from voicebot.hr.importer import import_jobs
from voicebot.interview.runner import Interviewer
from voicebot.store import Store
from voicebot.store import hr as db
from voicebot.store.hr import CandidateRecord
from voicebot.telephony.registrar import LocalRegistrar
from voicebot.telephony.sip import SipEndpoint

_MISSING = [t for t in ("kamailio", "baresip") if shutil.which(t) is None]
pytestmark = [
    pytest.mark.sip,
    pytest.mark.models,
    pytest.mark.skipif(bool(_MISSING), reason=f"not installed: {', '.join(_MISSING)}"),
]

ANSWERS = "+12125550100"
PHONE_OFF = "+12125550101"
USERS = {"bot": "bot-secret", ANSWERS: "alice-secret", PHONE_OFF: "bob-secret"}
REPO = Path(__file__).resolve().parents[2]


async def test_campaign_over_sip_with_baresip_candidates(tmp_path: Path) -> None:
    base = Config()
    cfg = replace(
        base,
        speech=replace(base.speech, cache_dir=str(REPO / "var" / "tts-cache")),
        interview=replace(base.interview, reprompt_after_s=2.0, max_reprompts=1),
    )
    async with await Store.open(tmp_path / "voicebot.db") as store:
        await import_jobs(store, JOB_FILE)
        await db.upsert_candidates(
            store, [CandidateRecord(JOB_ID, n, "America/New_York", name=n[-2:])
                    for n in (ANSWERS, PHONE_OFF)],
        )  # fmt: skip
        settings = {"window_days": "mon,tue,wed,thu,fri,sat,sun", "window_start": "00:00",
                    "window_end": "23:59", "retry_no_answer": "0,0"}  # fmt: skip
        cid, _ = await db.create_campaign(
            store, name="sip", job_id=JOB_ID, settings=parse_settings(settings).to_dict()
        )
        interviewer = await Interviewer.create(cfg, store=store)
        async with LocalRegistrar(USERS, workdir=tmp_path / "kamailio") as reg:
            sip_cfg = replace(cfg.sip, listen_port=0, username="bot", password=USERS["bot"],
                              registrar=f"{reg.host}:{reg.port}")  # fmt: skip
            phone = Baresip(ANSWERS, USERS[ANSWERS], reg, auto_answer=True,
                            workdir=tmp_path / "alice")  # fmt: skip
            await phone.start()
            try:
                await phone.wait_registered(timeout=5)
                async with SipEndpoint(sip_cfg) as bot:
                    await asyncio.wait_for(bot.registered.wait(), 5)
                    state = await Dialer(store, bot, interviewer, scorer=None).run(cid)
                await phone.wait_closed(timeout=10)
            finally:
                await phone.stop()
        assert state == "done"

    conn = sqlite3.connect(tmp_path / "voicebot.db")
    calls = conn.execute("SELECT id, candidate_id, bridge, outcome FROM calls").fetchall()
    targets = dict(conn.execute("SELECT candidate_id, last_outcome FROM campaign_targets"))
    attempts = conn.execute("SELECT candidate_id, outcome FROM attempts").fetchall()
    events = [(t, json.loads(p)) for t, p in conn.execute(
        "SELECT type, payload_json FROM webhook_events ORDER BY rowid")]  # fmt: skip
    conn.close()
    answered = CandidateRecord(JOB_ID, ANSWERS, "UTC").id
    off = CandidateRecord(JOB_ID, PHONE_OFF, "UTC").id
    assert len(attempts) == 2 and {a[0] for a in attempts} == {answered, off}
    (call,) = calls  # only the phone that answered produced a call
    assert (call[1], call[2]) == (answered, "sip")
    assert targets == {answered: call[3], off: "no_answer"}
    kinds = {(t, p["candidate_id"]) for t, p in events}
    assert ("candidate.contacted", answered) in kinds
    assert ("call.completed", off) in kinds and ("call.completed", answered) in kinds
    assert ("candidate.contacted", off) not in kinds
