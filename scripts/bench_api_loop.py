"""How long one big candidate POST blocks the API's event loop (issue 16: 100 000 candidates
blocked it for 10 s, so every other request and the webhook sender stalled).

A ticker task sleeps 1 ms at a time in the API's loop and records the longest gap between
ticks while `POST /jobs/{id}/candidates` with N candidates runs through the ASGI app (the
body is encoded before the ticker starts, so the client's own work is not counted).
Prints the figures and writes var/bench/api_loop.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from voicebot.config import ApiConfig, Config  # noqa: E402
from voicebot.hr.api import create_app  # noqa: E402
from voicebot.hr.importer import import_jobs  # noqa: E402
from voicebot.store import Store  # noqa: E402
from voicebot.store import hr as db  # noqa: E402

JOB_FILE = REPO / "tests" / "hr" / "data" / "job.yaml"


def body(n: int) -> bytes:
    people = [
        {"phone": f"+1 212 {200 + i // 10_000:03d} {i % 10_000:04d}", "name": f"Candidate {i}",
         "skills": ["Python", "SQL"], "years_experience": i % 20}
        for i in range(n)
    ]  # fmt: skip
    return json.dumps({"candidates": people}).encode()


async def measure(n: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        async with await Store.open(Path(tmp) / "voicebot.db") as store:
            await import_jobs(store, JOB_FILE)
            token = await db.create_token(store, "bench", "hr")
            # the default cap (api.max_body_bytes, 10 MiB) refuses 100 000 of these (10.4 MiB)
            # with a 413; the loop block is measured under a cap that lets them in
            cfg = Config(api=ApiConfig(max_body_bytes=64 * 2**20))
            app = create_app(store, cfg)
            content = body(n)
            gaps: list[float] = []
            stop = asyncio.Event()

            async def tick() -> None:
                last = time.perf_counter()
                while not stop.is_set():
                    await asyncio.sleep(0.001)
                    now = time.perf_counter()
                    gaps.append(now - last)
                    last = now

            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
                ticker = asyncio.create_task(tick())
                await asyncio.sleep(0.05)
                started = time.perf_counter()
                resp = await c.post(
                    "/jobs/test-backend/candidates", content=content, timeout=600,
                    headers={"Authorization": f"Bearer {token}",
                             "Content-Type": "application/json"},
                )  # fmt: skip
                took = time.perf_counter() - started
                stop.set()
                await ticker
            if resp.status_code != 200:
                raise SystemExit(f"POST answered {resp.status_code}: {resp.text[:300]}")
            gaps.sort()
            return {
                "candidates": n,
                "body_mb": round(len(content) / 2**20, 2),
                "request_s": round(took, 3),
                "inserted": resp.json()["inserted"],
                "loop_block_max_ms": round(gaps[-1] * 1000, 1),
                "loop_block_p99_ms": round(gaps[int(len(gaps) * 0.99)] * 1000, 1),
                "ticks": len(gaps),
            }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=REPO / "var" / "bench" / "api_loop.json")
    args = ap.parse_args()
    result = asyncio.run(measure(args.n))
    print(
        f"POST {result['candidates']} candidates ({result['body_mb']} MB): "
        f"{result['request_s']} s, loop blocked at most {result['loop_block_max_ms']} ms "
        f"(p99 gap {result['loop_block_p99_ms']} ms, {result['ticks']} ticks)"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
