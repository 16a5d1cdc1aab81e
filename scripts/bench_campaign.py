#!/usr/bin/env python3
"""A 1 000-candidate campaign against simulated call outcomes on a real SQLite store, then
the webhook outbox delivered to a local receiver.

Prints and writes JSON (var/bench/campaign.json): the dialer's scheduling overhead per call
(claim, checks, finish, events — everything but the call itself, whose length is zero here)
and webhook deliveries per second. Retry delays pass on a virtual clock, so busy and
no-answer retries are part of the run without waiting for them.

    .venv/bin/python scripts/bench_campaign.py [--candidates 1000] [--concurrency 16]

With `--workers 1,2,3` it runs real `voicebot worker` processes instead, N of them sharing one
campaign over one store, on SQLite and on PostgreSQL (a throw-away cluster unless `--pg-url`),
in real time with zero-length simulated calls, and reports attempts/s (first claim to last
hang-up) and webhooks/s (first to last delivery received) for each N and backend
(var/bench/campaign_workers.json). Process start-up is outside both windows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiohttp import web

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from voicebot.campaigns.dialer import Dialer, VirtualClock  # noqa: E402
from voicebot.campaigns.settings import parse_settings  # noqa: E402
from voicebot.campaigns.simulated import (  # noqa: E402
    SimulatedBridge,
    SimulatedInterviewer,
    parse_mix,
    simulated_scorer,
)
from voicebot.config import WebhooksConfig  # noqa: E402
from voicebot.hr.importer import import_jobs  # noqa: E402
from voicebot.hr.webhooks import WebhookSender, new_secret  # noqa: E402
from voicebot.store import Store  # noqa: E402
from voicebot.store import hr as db  # noqa: E402
from voicebot.store.hr import CandidateRecord  # noqa: E402

MIX = (
    "completed=0.55,busy=0.15,no_answer=0.15,voicemail=0.05,failed=0.03,callback=0.04,"
    "opted_out=0.03"
)
JOB = REPO / "tests" / "hr" / "data" / "job.yaml"


async def receiver() -> tuple[web.AppRunner, str, list[tuple[float, str]]]:
    got: list[tuple[float, str]] = []  # when each delivery arrived, its webhook-id

    async def hook(request: web.Request) -> web.Response:
        await request.read()
        got.append((time.time(), request.headers.get("webhook-id", "")))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}/hook", got


async def seed(store: Store, n: int, concurrency: int, hook: str) -> str:
    """n candidates, one receiver, one campaign calling all week at the settings' top rate."""
    await import_jobs(store, JOB)
    await db.upsert_candidates(
        store,
        [CandidateRecord("test-backend", f"+1212{i:07d}", "America/New_York",
                         name=f"C{i}") for i in range(n)],
    )  # fmt: skip
    await db.add_endpoint(store, hook, new_secret())
    settings = {"window_days": "mon,tue,wed,thu,fri,sat,sun", "window_start": "00:00",
                "window_end": "23:59", "calls_per_second": 100,
                "max_concurrent": concurrency}  # fmt: skip
    cid, _ = await db.create_campaign(
        store, name="bench", job_id="test-backend", settings=parse_settings(settings).to_dict()
    )
    return cid


async def bench(n: int, concurrency: int, mix: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        store = await Store.open(Path(tmp) / "voicebot.db")
        runner, url, got = await receiver()
        try:
            cid = await seed(store, n, concurrency, url)
            clock = VirtualClock()
            bridge = SimulatedBridge(parse_mix(mix), seed=1)
            dialer = Dialer(
                store, bridge, SimulatedInterviewer(store, clock=clock), clock=clock,
                scorer=simulated_scorer, poll_s=86400 * 7,
            )  # fmt: skip
            t0 = time.perf_counter()
            state = await dialer.run(cid)
            wall = time.perf_counter() - t0
            progress = await db.campaign_progress(store, cid)
            pending = len(await db.list_deliveries(store, state="pending", limit=10**9))
            sender = WebhookSender(store, WebhooksConfig(), clock=clock.now, concurrency=16)
            t1 = time.perf_counter()
            while await sender.deliver_due(limit=200):
                pass
            send_wall = time.perf_counter() - t1
            await sender.close()
        finally:
            await runner.cleanup()
            await store.close()
    attempts = progress["attempts"]
    return {
        "candidates": n,
        "state": state,
        "attempts": attempts,
        "max_concurrent": concurrency,
        "outcomes_by_candidate": progress["by_outcome"],
        "campaign_wall_s": round(wall, 3),
        "overhead_ms_per_call": round(1000 * wall / attempts, 3),
        "claim_path_ms_per_call": round(1000 * dialer.stats.scheduling_s / attempts, 3),
        "attempts_per_s": round(attempts / wall, 1),
        "webhook_events": pending,
        "webhook_deliveries": sender.delivered,
        "webhook_received": len(got),
        "webhook_deliveries_per_s": round(sender.delivered / send_wall, 1),
    }


# outcomes that end a candidate: workers run in real time, where retries would wait minutes
WORKER_MIX = "completed=0.9,no_consent=0.05,opted_out=0.05"


def _query(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url) as conn:
            return conn.execute(sql).fetchall()
    conn = sqlite3.connect(url, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


async def bench_workers(n: int, workers: int, concurrency: int, url: str) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        store_url = url or str(Path(tmp) / "voicebot.db")
        backend = "postgresql" if "://" in store_url else "sqlite"
        runner, hook, got = await receiver()
        try:
            async with await Store.open(store_url) as store:
                cid = await seed(store, n, concurrency, hook)
                await db.set_campaign_state(store, cid, "running")
            cfg = Path(tmp) / "voicebot.toml"
            key = "url" if "://" in store_url else "path"
            cfg.write_text(f'[store]\n{key} = "{store_url}"\n')
            env = {k: v for k, v in os.environ.items() if not k.startswith("VOICEBOT_")}
            logs = REPO / "var" / "bench" / "workers"
            logs.mkdir(parents=True, exist_ok=True)
            names = [logs / f"{backend}-{workers}-{i}.log" for i in range(workers)]
            procs = []
            for i, name in enumerate(names):
                with name.open("wb") as log:
                    procs.append(await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "voicebot.cli", "worker", "-c", str(cfg),
                        "--until-idle", "--simulate", WORKER_MIX, "--seed", str(i),
                        env=env, cwd=REPO, stdout=asyncio.subprocess.DEVNULL, stderr=log,
                    ))  # fmt: skip
            for proc, name in zip(procs, names, strict=True):
                if await proc.wait():
                    raise SystemExit(f"a worker failed: see {name}")
            warnings = sum(n.read_text().count("WARNING") for n in names)
            (first, last, attempts) = _query(
                store_url, "SELECT MIN(claimed_at), MAX(ended_at), COUNT(*) FROM attempts "
                "WHERE state = 'finished'",
            )[0]  # fmt: skip
            (state,) = _query(store_url, f"SELECT state FROM campaigns WHERE id = '{cid}'")[0]
            (events,) = _query(store_url, "SELECT COUNT(*) FROM webhook_events")[0]
        finally:
            await runner.cleanup()
    times = [t for t, _ in got]
    span = max(times) - min(times) if len(times) > 1 else 0.0
    return {
        "backend": backend,
        "workers": workers,
        "candidates": n,
        "state": state,
        "attempts": attempts,
        "max_concurrent": concurrency,
        "campaign_wall_s": round(last - first, 3),
        "attempts_per_s": round(attempts / (last - first), 1),
        "webhook_events": events,
        "webhook_received": len(got),
        "webhook_resent": len(got) - len({i for _, i in got}),  # the same id twice
        "webhooks_per_s": round(len(got) / span, 1) if span else None,
        "worker_warnings": warnings,
    }


def run_workers(args: argparse.Namespace) -> list[dict[str, object]]:
    counts = [int(x) for x in args.workers.split(",")]
    results: list[dict[str, object]] = []
    cluster = None
    if "postgresql" in args.backends and not args.pg_url:
        from tests.store.pg_cluster import Cluster

        cluster = Cluster().start()
    try:
        for backend in args.backends.split(","):
            for n in counts:
                url = ""
                if backend == "postgresql":
                    url = cluster.database() if cluster else args.pg_url
                results.append(asyncio.run(
                    bench_workers(args.candidates, n, args.concurrency, url)
                ))  # fmt: skip
                print(json.dumps(results[-1]), flush=True)
    finally:
        if cluster is not None:
            cluster.stop()
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--mix", default=MIX)
    ap.add_argument("--workers", help="N[,N…]: real worker processes sharing the campaign")
    ap.add_argument("--backends", default="sqlite,postgresql", help="with --workers")
    ap.add_argument("--pg-url", default="", help="with --workers: an empty database to use")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.workers:
        out = args.out or REPO / "var" / "bench" / "campaign_workers.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(run_workers(args), indent=2) + "\n")
        return
    args.out = args.out or REPO / "var" / "bench" / "campaign.json"
    result = asyncio.run(bench(args.candidates, args.concurrency, args.mix))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
