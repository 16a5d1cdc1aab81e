"""The HR console in a real browser (Debian's chromium through Playwright) against a real
`voicebot api`: every page, a recruiter's whole flow, the keyboard, JavaScript off, and a
readonly token that sees no write forms and is refused every POST."""

from __future__ import annotations

import io
import json
import re
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.console.conftest import Served

pytestmark = pytest.mark.browser

PAGES = {  # path -> the heading a person sees
    "/console/reviews": "Review queue",
    "/console/interviews": "Interviews",
    "/console/campaigns": "Campaigns",
    "/console/candidates": "Candidates",
    "/console/jobs": "Jobs",
    "/console/jobs/backend-engineer": None,  # the job's title
    "/console/import": "Import candidates",
    "/console/tokens": "API tokens",
}
CSV = (
    "phone,name,timezone\n"
    "+1 415 555 0001,Katherine Johnson,America/New_York\n"
    "not a number,Bad Row,UTC\n"
    "+1 415 555 0002,Dorothy Vaughan,\n"
)


def _sign_in(page: Page, served: Served, token: str) -> None:
    page.goto(served.url + "/console/")
    expect(page).to_have_url(re.compile(r"/console/signin$"))
    page.fill("#token", token)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Review queue")


def _preview_import(page: Page, csv: Path, text: str) -> None:
    """Candidates → Import: upload `text` as the file `csv` and ask for the preview."""
    page.click("nav >> text=Candidates")
    page.click("text=Import candidates")
    csv.write_text(text, encoding="utf-8")
    page.set_input_files("#file", str(csv))
    page.click("button:has-text('Preview')")


def _decide(page: Page, decision: str, reason: str) -> None:
    """On an interview's page: record the decision and see it in its table."""
    page.check(f"input[value={decision}]")
    page.fill("#reason", reason)
    page.click("button:has-text('Record decision')")
    expect(page.locator("table")).to_contain_text(reason)


def _shot(page: Page, served: Served, name: str) -> Path:
    """A full-page screenshot that must show something: not blank, text and lines on it."""
    path = served.shots / f"{name}.png"
    png = page.screenshot(path=str(path), full_page=True)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png)).convert("L")
    low, high = image.getextrema()
    assert high - low > 100, f"{name}: the screenshot is blank"
    dark = sum(image.histogram()[:100])
    assert dark > 200, f"{name}: no text on the page"
    return path


def _events(served: Served, event_type: str) -> list[dict[str, Any]]:
    with sqlite3.connect(f"file:{served.db_path}?mode=ro", uri=True) as conn:
        rows = conn.execute(
            "SELECT e.payload_json, COUNT(d.event_id) FROM webhook_events e "
            "LEFT JOIN webhook_deliveries d ON d.event_id = e.id WHERE e.type = ? "
            "GROUP BY e.id ORDER BY e.created_at",
            (event_type,),
        ).fetchall()
    return [{**json.loads(p), "_deliveries": n} for p, n in rows]


def test_every_page_reads_and_the_session_cookie_is_locked_down(
    page: Page, context: BrowserContext, served: Served
) -> None:
    _sign_in(page, served, served.hr_token)
    (cookie,) = [c for c in context.cookies() if c["name"] == "vb_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert served.hr_token not in cookie["value"]  # a session id, never the token
    for path, heading in PAGES.items():
        response = page.goto(served.url + path)
        assert response is not None and response.status == 200, path
        if heading:
            expect(page.locator("h1")).to_have_text(heading)
        _shot(page, served, path.strip("/").replace("/", "_"))
    page.goto(served.url + f"/console/interviews/{served.call_id}")
    expect(page.locator("h1")).to_have_text("Interview with Ada Lovelace")
    _shot(page, served, "interview")
    page.goto(served.url + "/console/campaigns")
    page.click("text=Spring backend")
    expect(page.locator("table")).to_contain_text("Grace Hopper")
    expect(page.locator("table")).to_contain_text("pending")
    expect(page.locator("table")).to_contain_text("as soon as the campaign runs")  # a draft
    _shot(page, served, "campaign")
    assert page.locator("meta[http-equiv=refresh]").count() == 0  # a draft does not change
    campaign_id = page.url.rsplit("/", 1)[1]
    bearer = {"Authorization": f"Bearer {served.hr_token}"}
    started = httpx.post(f"{served.url}/campaigns/{campaign_id}/start", headers=bearer)
    assert started.status_code == 200, started.text
    page.reload()
    expect(page.locator("meta[http-equiv=refresh]")).to_have_attribute("content", "15")
    expect(page.locator("table")).to_contain_text("due now")
    httpx.post(f"{served.url}/campaigns/{campaign_id}/pause", headers=bearer)
    assert "+1212" not in page.content()  # numbers are masked on every page


def test_a_recruiter_imports_reviews_and_the_ats_is_told(
    page: Page, served: Served, tmp_path: Path
) -> None:
    _sign_in(page, served, served.hr_token)
    _preview_import(page, tmp_path / "export.csv", CSV)
    expect(page.locator("h1")).to_have_text("Preview: export.csv")
    rejected = page.locator("table.rejected tbody tr")
    expect(rejected).to_have_count(1)
    expect(rejected).to_contain_text("3")  # the file line of the bad row
    expect(rejected).to_contain_text("not a phone number")
    expect(page.locator("table.accepted")).to_contain_text("Katherine Johnson")
    _shot(page, served, "import_preview")
    page.click("button:has-text('Import 2 candidates')")
    expect(page.locator("[role=status]")).to_contain_text("2 imported")
    page.click("text=See the candidates")
    expect(page.locator("table")).to_contain_text("Dorothy Vaughan")
    expect(page.locator("table")).not_to_contain_text("Bad Row")

    page.click("nav >> text=Interviews")
    page.select_option("#f-outcome", "completed")
    page.click("button:has-text('Filter')")
    page.click("table >> text=Ada Lovelace")
    expect(page.locator("#review-state")).to_contain_text("Awaiting a person's decision")
    page.click("text=Open the report")
    expect(page.locator("body")).to_contain_text("Ada Lovelace")
    expect(page.locator("audio")).to_have_attribute("src", "recording")
    audio = page.request.get(served.url + f"/console/interviews/{served.call_id}/recording")
    assert audio.status == 200 and audio.body().startswith(b"RIFF")
    _shot(page, served, "report")
    page.go_back()

    _decide(page, "advance", "Clear, specific answers; invite to the onsite")
    expect(page.locator("#review-state")).to_contain_text("Not in the review queue")
    page.click("nav >> text=Review queue")
    expect(page.locator("table")).not_to_contain_text("Ada Lovelace")  # decided: off the queue
    (event,) = [e for e in _events(served, "review.decided") if e["decision"] == "advance"]
    assert event["interview_id"] == served.call_id and event["final"] is True
    assert event["reason"] == "Clear, specific answers; invite to the onsite"
    assert event["reviewer"] == "Ann Recruiter" and event["_deliveries"] == 1
    assert "Ada" not in json.dumps(event)  # the ATS gets ids, not the candidate's name


def test_a_decision_needs_a_reason_and_a_form_token(page: Page, served: Served) -> None:
    _sign_in(page, served, served.hr_token)
    before = len(_events(served, "review.decided"))
    url = served.url + f"/console/interviews/{served.call_id}"
    page.goto(url)
    csrf = page.locator("#decision input[name=csrf]").input_value()
    blank = page.request.post(url + "/decision", form={"csrf": csrf, "decision": "reject",
                                                        "reason": "   "})  # fmt: skip
    assert blank.status == 422 and "a decision needs a reason" in blank.text()
    forged = page.request.post(url + "/decision", form={"csrf": "x", "decision": "reject",
                                                         "reason": "no"})  # fmt: skip
    assert forged.status == 403 and "form expired" in forged.text()
    assert len(_events(served, "review.decided")) == before


def test_the_keyboard_reaches_every_form_and_enter_submits(page: Page, served: Served) -> None:
    page.goto(served.url + "/console/signin")
    for _ in range(10):
        if page.evaluate("document.activeElement.id") == "token":
            break
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "token"
    page.keyboard.type(served.hr_token)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Review queue")
    page.goto(served.url + f"/console/interviews/{served.call_id}")
    seen = []
    for _ in range(40):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.name || document.activeElement.id"))
        if seen[-1] == "reason":
            break
    assert seen[-1] == "reason", f"Tab never reached the reason field: {seen}"
    assert "decision" in seen  # the radio group comes before it
    page.keyboard.type("Needs a second interview with the team lead")
    page.keyboard.press("Enter")
    expect(page.locator("table")).to_contain_text("Needs a second interview")


def test_everything_works_with_javascript_off(browser: Browser, served: Served) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        _sign_in(page, served, served.hr_token)
        page.goto(served.url + f"/console/interviews/{served.call_id}")
        page.check("input[value=hold]")
        page.fill("#reason", "Waiting for the references")
        page.click("button:has-text('Record decision')")
        expect(page.locator("table")).to_contain_text("Waiting for the references")
        held = [e for e in _events(served, "review.decided") if e["decision"] == "hold"]
        assert held and held[-1]["final"] is False
        _shot(page, served, "interview_no_js")
        page.click("button:has-text('Sign out')")
        expect(page).to_have_url(re.compile(r"/console/signin$"))
        page.goto(served.url + "/console/reviews")
        expect(page).to_have_url(re.compile(r"/console/signin$"))  # the session is gone
    finally:
        context.close()


def test_a_readonly_token_reads_but_writes_nothing(page: Page, served: Served) -> None:
    _sign_in(page, served, served.readonly_token)
    expect(page.locator(".who")).to_contain_text("readonly")
    for path in (f"/console/interviews/{served.call_id}", "/console/candidates",
                 "/console/campaigns", "/console/jobs"):  # fmt: skip
        page.goto(served.url + path)
        assert page.locator("form[method=post]:not(.signout)").count() == 0, path
    page.goto(served.url + "/console/candidates")
    assert page.locator("text=Import candidates").count() == 0
    page.goto(served.url + f"/console/interviews/{served.call_id}")
    _shot(page, served, "interview_readonly")
    csrf = page.locator("form.signout input[name=csrf]").input_value()
    url = served.url + f"/console/interviews/{served.call_id}/decision"
    refused = page.request.post(url, form={"csrf": csrf, "decision": "advance", "reason": "x"})
    assert refused.status == 403 and "readonly" in refused.text()
    assert page.request.get(served.url + "/console/import").status == 403
    assert page.request.get(served.url + "/console/tokens").status == 403
    assert page.locator("nav >> text=Tokens").count() == 0
    api = {"Authorization": f"Bearer {served.readonly_token}"}
    assert httpx.get(served.url + "/jobs", headers=api).status_code == 200
    for method, path in (("POST", "/jobs"), ("POST", "/outcomes"), ("POST", "/campaigns"),
                         ("DELETE", f"/tokens/{served.readonly_id}")):  # fmt: skip
        assert httpx.request(method, served.url + path, headers=api, json={}).status_code == 403
