"""/metrics as Prometheus reads it: scraped over HTTP from `voicebot serve`'s listener and from
the HR API, parsed with prometheus_client's own text-format parser.

The registry is the process's, shared by every test here: each test reads the values before
and after what it does and checks the difference.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.campaigns.fakes import FakeClock, ScriptedBridge, ScriptedInterviewer, fake_report
from tests.hr.helpers import JOB_FILE, JOB_ID
from tests.hr.receiver import Receiver
from voicebot import metrics
from voicebot.campaigns.dialer import Dialer
from voicebot.campaigns.settings import parse_settings
from voicebot.config import Config, WebhooksConfig
from voicebot.hr.api import create_app
from voicebot.hr.importer import import_jobs
from voicebot.hr.webhooks import WebhookSender, new_secret
from voicebot.store import Store
from voicebot.store import hr as db
from voicebot.store.hr import CandidateRecord
from voicebot.telephony.registrar import free_udp_port

pytestmark = pytest.mark.timeout(60)
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
ANYTIME = {"window_days": "mon,tue,wed,thu,fri,sat,sun", "window_start": "00:00",
           "window_end": "23:59", "calls_per_second": 100}  # fmt: skip


def parse(text: str) -> Samples:
    """Every sample by name and labels, as a scraper stores it."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def http_get(port: int, path: str) -> tuple[int, str, str]:
    """Status, content type and body of one HTTP/1.1 GET on 127.0.0.1."""
    async with httpx.AsyncClient(timeout=5) as client:
        resp = await client.get(f"http://127.0.0.1:{port}{path}")
    return resp.status_code, resp.headers.get("content-type", ""), resp.text


@pytest.fixture
async def listener() -> AsyncIterator[int]:
    port = free_udp_port()  # the same number is free on TCP as a rule; bind tells if not
    server = await metrics.serve_metrics("127.0.0.1", port)
    try:
        yield port
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    async with await Store.open(tmp_path / "voicebot.db") as store:
        await import_jobs(store, JOB_FILE)
        yield store


async def test_serves_listener_reports_calls_latency_and_decodes(listener: int) -> None:
    status, ctype, text = await http_get(listener, "/metrics")
    assert status == 200 and ctype.startswith("text/plain; version=")
    before = parse(text)

    metrics.call_started()
    metrics.call_started()
    _, _, during = await http_get(listener, "/metrics")
    active = value(parse(during), "voicebot_calls_active") - value(before, "voicebot_calls_active")
    assert active == 2
    metrics.call_ended("completed", [640.0, None, 1800.0])  # None: a turn with no reply timing
    metrics.call_ended("no_answer", [])
    for ms in (120.0, 450.0, 0.0):  # 0: no decode was run
        metrics.asr_decoded(ms)

    _, _, text = await http_get(listener, "/metrics")
    after = parse(text)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("voicebot_calls_active") == 0
    assert delta("voicebot_calls_total", outcome="completed") == 1
    assert delta("voicebot_calls_total", outcome="no_answer") == 1
    assert delta("voicebot_voice_to_voice_seconds_count") == 2
    assert delta("voicebot_voice_to_voice_seconds_sum") == pytest.approx(2.44)
    assert delta("voicebot_voice_to_voice_seconds_bucket", le="0.75") == 1
    assert delta("voicebot_voice_to_voice_seconds_bucket", le="2.0") == 2
    assert delta("voicebot_asr_decode_seconds_count") == 2
    assert delta("voicebot_asr_decode_seconds_bucket", le="0.2") == 1


async def test_the_listener_answers_only_metrics_and_survives_a_broken_scraper(
    listener: int,
) -> None:
    status, _, body = await http_get(listener, "/")
    assert status == 404 and "GET /metrics" in body
    _, writer = await asyncio.open_connection("127.0.0.1", listener)
    writer.write(b"GET /metrics HTTP/1.1\r\n" + b"X-Long: " + b"a" * 20000)  # never ends
    writer.close()
    status, _, text = await http_get(listener, "/metrics")
    assert status == 200 and "voicebot_calls_active" in text


async def test_the_api_shows_campaign_progress_attempts_and_webhook_deliveries(
    store: Store,
) -> None:
    records = [CandidateRecord(JOB_ID, f"+1212555{i:04d}", "America/New_York", name=f"Zoë {i}")
               for i in range(3)]  # fmt: skip
    await db.upsert_candidates(store, records)
    cid, _ = await db.create_campaign(
        store, name="t", job_id=JOB_ID, settings=parse_settings(ANYTIME).to_dict()
    )
    app = create_app(store, Config())
    metrics.mount(app, store)
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")
    async with api:
        before = parse((await api.get("/metrics")).text)
        assert value(before, "voicebot_campaign_targets", campaign=cid, status="pending") == 3

        secret = new_secret()
        async with Receiver([secret], answer=lambda n: (500, {}) if n == 0 else (200, {})) as rx:
            await db.add_endpoint(store, rx.url, secret)
            bridge = ScriptedBridge(FakeClock())
            dialer = Dialer(store, bridge, ScriptedInterviewer(bridge), clock=bridge.clock,
                            scorer=fake_report, poll_s=86400 * 7)  # fmt: skip
            assert await dialer.run(cid) == "done"
            async with WebhookSender(store, WebhooksConfig(schedule=(0, 0, 0))) as sender:
                while await sender.deliver_due():
                    pass

        resp = await api.get("/metrics")
    assert resp.status_code == 200  # no token needed: the scraper has none
    after = parse(resp.text)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert value(after, "voicebot_campaign_targets", campaign=cid, status="done") == 3
    assert value(after, "voicebot_campaign_targets", campaign=cid, status="pending") == 0
    assert delta("voicebot_campaign_attempts_total", outcome="completed") == 3
    events = len(rx.accepted_ids())
    assert events >= 3
    assert delta("voicebot_webhook_deliveries_total", status="5xx") == 1
    assert delta("voicebot_webhook_deliveries_total", status="2xx") == events
    assert "Zoë" not in resp.text and "+1212555" not in resp.text  # no candidate in a label
    assert "/metrics" not in (await _schema(app))


async def _schema(app: object) -> str:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as c:
        return (await c.get("/openapi.json")).text


def test_metrics_port_is_off_by_default_and_checked() -> None:
    from voicebot.config import ConfigError, load_config

    assert load_config(env={}).metrics.port == 0
    assert load_config(env={"VOICEBOT_METRICS__PORT": "9464"}).metrics.port == 9464
    with pytest.raises(ConfigError, match=r"metrics\.port: 70000 is not a port"):
        load_config(env={"VOICEBOT_METRICS__PORT": "70000"})


def start_serve(tmp_path: Path, sip_port: int, scrape_port: int) -> subprocess.Popen[bytes]:
    from tests.telephony.test_shutdown import JOB, REPO

    config = tmp_path / "voicebot.toml"
    config.write_text(
        f'shutdown_grace_s = 1.0\n[sip]\nlisten_host = "127.0.0.1"\nlisten_port = {sip_port}\n'
        f'[store]\npath = "{tmp_path / "voicebot.db"}"\n'
        f'[pii]\nkey_file = "{tmp_path / "pii.key"}"\n'
        f"[metrics]\nport = {scrape_port}\n[interview]\nreprompt_after_s = 60.0\n",
        encoding="utf-8",
    )
    with (tmp_path / "serve.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "voicebot.cli", "serve", "--job", str(JOB), "-c", str(config)],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip


@pytest.mark.models
async def test_a_real_serve_process_counts_a_live_call_on_its_metrics_port(
    tmp_path: Path,
) -> None:
    from tests.telephony.test_shutdown import wait_listening
    from tests.telephony.test_sip_calls import RawCaller

    sip_port, scrape_port = free_udp_port(), free_udp_port()
    proc = start_serve(tmp_path, sip_port, scrape_port)

    async def scrape_until(name: str, want: float, **labels: str) -> None:
        for _ in range(100):
            if value(parse((await http_get(scrape_port, "/metrics"))[2]), name, **labels) == want:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{name}{labels} never {want}")

    try:
        await wait_listening(proc, sip_port)
        await scrape_until("voicebot_calls_active", 0)
        async with RawCaller(sip_port) as alice:
            await alice.call()
            await scrape_until("voicebot_calls_active", 1)
            alice.sip.send(alice.request("BYE"))
            await alice.final("BYE")
            await scrape_until("voicebot_calls_active", 0)
        samples = parse((await http_get(scrape_port, "/metrics"))[2])
        ended = sum(v for (n, _), v in samples.items() if n == "voicebot_calls_total")
        assert ended == 1
        await sigterm_exits_clean(proc)
    finally:
        reap(proc)


async def test_health_and_readiness_say_why_a_process_takes_no_work() -> None:
    reason: list[str | None] = [None]

    async def unready() -> str | None:
        return reason[0]

    port = free_udp_port()
    server = await metrics.serve_metrics("127.0.0.1", port, unready)
    try:
        assert (await http_get(port, "/health"))[0] == 200
        status, _, body = await http_get(port, "/ready")
        assert status == 200 and body.strip() == "ready"
        reason[0] = "store: database is locked"
        status, _, body = await http_get(port, "/ready")
        assert status == 503 and "database is locked" in body
        assert (await http_get(port, "/health"))[0] == 200  # alive, just not ready
    finally:
        server.close()
        await server.wait_closed()


async def test_the_api_is_ready_only_while_its_store_answers(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "voicebot.db")
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(store, Config())),
                            base_url="http://api")  # fmt: skip
    async with api:
        ready = await api.get("/ready")
        assert ready.status_code == 200 and ready.json() == {"status": "ready"}
        await store.close()  # the database went away under a running API
        gone = await api.get("/ready")
        assert gone.status_code == 503 and gone.json()["status"] == "unavailable"
        assert gone.json()["reason"].startswith("store: ")
        assert (await api.get("/health")).status_code == 200


async def test_a_worker_serves_metrics_and_readiness_and_logs_json_without_numbers(
    tmp_path: Path,
) -> None:
    """A real `voicebot worker` with `[metrics] port` and `log_format = "json"`, dialling a
    campaign on simulated phones: scraped while it runs, stopped by SIGTERM."""
    import json

    db_path = tmp_path / "voicebot.db"
    async with await Store.open(db_path) as store:
        await import_jobs(store, JOB_FILE)
        await db.upsert_candidates(store, [CandidateRecord(JOB_ID, f"+1212555{i:04d}",
                                                           "America/New_York") for i in range(40)])
        cid, _ = await db.create_campaign(
            store, name="w", job_id=JOB_ID,
            settings=parse_settings({**ANYTIME, "max_concurrent": 4}).to_dict(),
        )  # fmt: skip
        await db.set_campaign_state(store, cid, "running")
    port = free_udp_port()
    config = tmp_path / "voicebot.toml"
    config.write_text(f'log_format = "json"\n[store]\npath = "{db_path}"\n'
                      f"[metrics]\nport = {port}\n")  # fmt: skip
    log = tmp_path / "worker.log"
    proc = start_worker(config, log)
    try:
        for _ in range(200):
            try:
                status, _, _ = await http_get(port, "/ready")
                if status == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        assert (await http_get(port, "/ready"))[0] == 200
        for _ in range(200):
            samples = parse((await http_get(port, "/metrics"))[2])
            done = value(samples, "voicebot_campaign_attempts_total", outcome="completed")
            if done >= 4 and value(samples, "voicebot_calls_active") > 0:
                break
            await asyncio.sleep(0.1)
        assert done >= 4, samples
        await sigterm_exits_clean(proc)
    finally:
        reap(proc)
    lines = log.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert records and all({"ts", "level", "logger", "msg"} <= r.keys() for r in records)
    assert any("metrics on http://127.0.0.1" in r["msg"] for r in records)
    assert "+1212555" not in log.read_text()


def start_worker(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "voicebot.cli", "worker", "-c", str(config), "--simulate",
             "completed=1", "--call-s", "0.5"],
            env={k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")},
            stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip


async def sigterm_exits_clean(proc: subprocess.Popen[bytes]) -> None:
    """A deploy's SIGTERM: the process finishes what it has and exits 0."""
    import signal

    proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(proc.wait, 30) == 0


def reap(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)
