"""Issue 16 item 9: `voicebot serve` drains on SIGTERM. A real `voicebot serve` process on
loopback takes a call from a raw SIP peer; SIGTERM stops it taking calls (a new INVITE gets
503 with Retry-After), the live interview gets `shutdown_grace_s` and is then ended with a
spoken goodbye and a BYE, its `calls` row is closed, and the process exits 0."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.telephony.test_sip_calls import HOST, RawCaller

REPO = Path(__file__).resolve().parents[2]
JOB = REPO / "examples" / "jobs" / "backend-engineer.yaml"
GRACE_S = 2.0
pytestmark = pytest.mark.timeout(180)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_serve(tmp_path: Path, port: int) -> subprocess.Popen[str]:
    config = tmp_path / "voicebot.toml"
    config.write_text(
        f"shutdown_grace_s = {GRACE_S}\n"
        f'[sip]\nlisten_host = "{HOST}"\nlisten_port = {port}\n'
        f'[store]\npath = "{tmp_path / "voicebot.db"}"\n'
        f'[pii]\nkey_file = "{tmp_path / "pii.key"}"\n'
        "[interview]\nreprompt_after_s = 60.0\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "voicebot.cli", "serve", "--job", str(JOB), "-c", str(config)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


async def wait_listening(proc: subprocess.Popen[str], port: int, timeout: float = 120) -> None:
    """Until the bot answers OPTIONS (models loaded, endpoint up)."""
    deadline = time.monotonic() + timeout
    async with RawCaller(port) as probe:
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            probe.sip.send(probe.request("OPTIONS"))
            try:
                _, reply = await probe.final("OPTIONS", timeout=1.0)
                if reply.status == 200:
                    return
            except TimeoutError:
                continue
    raise AssertionError("voicebot serve never started listening")


def call_row(db: Path, call_id: str) -> tuple[float | None, str | None]:
    conn = sqlite3.connect(db)
    try:
        row = conn.execute(
            "SELECT ended_at, outcome FROM calls WHERE id LIKE ?", (f"{call_id}%",)
        ).fetchone()
    finally:
        conn.close()
    assert row is not None, "the call was never stored"
    return row[0], row[1]


@pytest.mark.models
async def test_sigterm_ends_the_live_call_with_goodbye_and_bye_closes_its_row_and_exits_0(
    tmp_path: Path,
) -> None:
    port = free_udp_port()
    proc = start_serve(tmp_path, port)
    try:
        await wait_listening(proc, port)
        async with RawCaller(port) as alice, RawCaller(port) as late:
            await alice.call()
            await asyncio.sleep(3.0)  # the greeting is playing; the candidate says nothing
            assert alice.rtp.packets, "the bot sent no audio"
            proc.send_signal(signal.SIGTERM)
            sent_term = time.monotonic()
            await asyncio.sleep(0.5)

            late.sip.send(late.invite(empty_header=False))  # during the drain
            _, refused = await late.final("INVITE", timeout=5)
            assert refused.status == 503
            assert refused.header("Retry-After") == "30"

            bye = await alice.sip.next_request("BYE", timeout=GRACE_S + 20)
            alice.sip.reply(bye, 200, "OK")
            bye_at = time.monotonic()
            # a goodbye was spoken after the grace period ran out, before the BYE
            goodbye = alice.rtp.between(sent_term + GRACE_S, bye_at)
        rc = await asyncio.to_thread(proc.wait, 30)
        err = proc.stderr.read() if proc.stderr else ""
        assert len(goodbye) >= 50, f"{len(goodbye)} RTP packets in the goodbye\n{err[-3000:]}"
        assert rc == 0, err[-3000:]
        assert "shutting down: 1 live interview(s)" in err
        ended_at, outcome = call_row(tmp_path / "voicebot.db", alice.call_id)
        assert ended_at is not None and outcome == "interrupted"
        print(f"SIGTERM -> BYE {bye_at - sent_term:.2f} s (grace {GRACE_S} s), exit {rc}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_the_api_server_exits_0_on_sigterm(tmp_path: Path) -> None:
    import urllib.request

    with socket.socket() as s:
        s.bind((HOST, 0))
        port = int(s.getsockname()[1])
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "VOICEBOT_STORE__PATH": str(tmp_path / "voicebot.db"),
        "VOICEBOT_PII__KEY_FILE": str(tmp_path / "pii.key"),
        "VOICEBOT_SHUTDOWN_GRACE_S": "2",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "voicebot.cli", "api", "--host", HOST, "--port", str(port)],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, "the API never answered"
                time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(30)
        assert rc == 0, proc.communicate()[1][-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
