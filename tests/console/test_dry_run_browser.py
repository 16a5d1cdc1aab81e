"""A recruiter's whole flow in a real browser, as the issue puts it: sign in, import a CSV (its
bad row shown), create a campaign, start a dry run and watch it finish, open the report, record
a review decision; the ATS's receiver — `voicebot webhooks listen`, which verifies every
delivery with `standardwebhooks` — gets `interview.completed` and `review.decided`.

The dry run is the real one: a scripted candidate dialled over SIP through kamailio on
loopback, interviewed by the real speech models inside the served API, into its own store."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from tests.console.conftest import Served
from tests.console.test_console_browser import _decide, _preview_import, _shot, _sign_in
from voicebot.hr.webhooks import new_secret

pytestmark = [
    pytest.mark.browser,
    pytest.mark.sip,
    pytest.mark.models,
    pytest.mark.skipif(shutil.which("kamailio") is None, reason="kamailio not installed"),
    pytest.mark.timeout(900),
]

CSV = (
    "phone,name,timezone,years_experience,skills,consent_recording\n"
    "+1 415 555 0101,Mary Jackson,America/New_York,6,Python; PostgreSQL,yes\n"
    "12,Broken Row,UTC,3,Python,no\n"
)


class Listener:
    """`voicebot webhooks listen --json` in its own process; each verified event one line."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "voicebot.cli", "webhooks", "listen", "--port", "0",
             "--secret", secret, "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        assert self.proc.stderr is not None and self.proc.stdout is not None
        first = self.proc.stderr.readline()
        found = re.search(r"listening on (\S+)", first)
        assert found, first
        self.url = found.group(1)
        self.events: list[dict[str, Any]] = []
        self.refused: list[str] = []
        threading.Thread(target=self._read, args=(self.proc.stdout, True), daemon=True).start()
        threading.Thread(target=self._read, args=(self.proc.stderr, False), daemon=True).start()

    def _read(self, stream: Any, verified: bool) -> None:
        for line in stream:
            if verified:
                self.events.append(json.loads(line))
            elif "refused" in line:
                self.refused.append(line)

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


@pytest.fixture
def listener() -> Iterator[Listener]:
    got = Listener(new_secret())
    try:
        yield got
    finally:
        got.stop()


def test_sign_in_import_dry_run_report_decide_and_the_ats_is_told(
    page: Page, served: Served, listener: Listener, tmp_path: Path
) -> None:
    secret = listener.secret
    _sign_in(page, served, served.hr_token)

    _preview_import(page, tmp_path / "ats-export.csv", CSV)
    expect(page.locator("table.rejected tbody tr")).to_have_count(1)
    expect(page.locator("table.rejected")).to_contain_text("not a valid number")
    page.click("button:has-text('Import 1 candidate')")
    expect(page.locator("[role=status]")).to_contain_text("1 imported")

    page.click("nav >> text=Campaigns")
    page.fill("#c-name", "Autumn backend")
    page.select_option("#c-job", "backend-engineer")
    page.click("button:has-text('Create draft')")
    expect(page.locator("h1")).to_have_text("Autumn backend")
    expect(page.locator("table")).to_contain_text("Mary Jackson")
    bad = page.locator("#d-webhook")
    bad.fill("ftp://nowhere")
    page.fill("#d-secret", secret)
    page.evaluate("document.querySelector('#dry-run').noValidate = true")
    page.click("button:has-text('Start the dry run')")
    expect(page.locator("#dry-run [role=alert]")).to_contain_text("not an http(s) URL")
    page.fill("#d-webhook", listener.url)
    page.fill("#d-secret", secret)
    page.click("button:has-text('Start the dry run')")

    expect(page.locator("h1")).to_have_text("Dry run")
    expect(page.locator("#dry-state")).to_contain_text("Running")
    expect(page.locator("#dry-state")).to_contain_text("Finished", timeout=600_000)
    expect(page.locator("table")).to_contain_text("completed")
    _shot(page, served, "dry_run")
    name = page.locator("table tbody tr td a").first
    who = name.inner_text()
    assert who in {"Ada Lovelace", "Grace Hopper", "Mary Jackson"}  # a real candidate's name
    name.click()
    expect(page.locator("h1")).to_have_text(f"Interview with {who}")
    expect(page.locator("[role=status]").first).to_contain_text("Dry run")
    page.click("text=Open the report")
    body = page.locator("body")
    expect(body).to_contain_text(who)
    expect(body).to_contain_text(re.compile(r"20\d\d-\d\d-\d\d"))  # the interview's date
    expect(body).to_contain_text("specific situation")  # the rubric checklist, in words
    expect(page.locator("audio")).to_have_attribute("src", "recording")
    base = page.url.rsplit("/", 1)[0]
    audio = page.request.get(base + "/recording")  # recorded by voicebot: SIP cannot
    assert audio.status == 200 and audio.body().startswith(b"RIFF")
    with wave.open(io.BytesIO(audio.body())) as w:
        assert w.getnchannels() == 2 and w.getframerate() == 8000
        seconds = w.getnframes() / 8000
        both = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)
    assert seconds > 20, seconds  # the interview after consent, not a fragment
    loud = np.abs(both).mean(axis=0)
    assert loud[0] > 50 and loud[1] > 50, loud  # the candidate on the left, the bot on the right
    _shot(page, served, "dry_run_report")
    page.go_back()

    _decide(page, "advance", "Dry run: the flow works end to end")

    for _ in range(100):
        if "review.decided" in listener.types():
            break
        page.wait_for_timeout(100)
    types = listener.types()
    assert "interview.completed" in types and "review.decided" in types, types
    assert listener.refused == []  # every delivery verified by standardwebhooks
    done = next(e["data"] for e in listener.events if e["type"] == "interview.completed")
    decided = next(e["data"] for e in listener.events if e["type"] == "review.decided")
    assert done["dry_run"] is True and decided["dry_run"] is True  # the ATS files neither
    assert decided["interview_id"] == done["call_id"] and decided["decision"] == "advance"
    assert done["score"] is not None and done["recommendation"]
    with_names = json.dumps(listener.events)
    assert who not in with_names  # ids go to the ATS, never the candidate's name
