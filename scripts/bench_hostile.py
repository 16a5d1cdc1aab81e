"""Memory under hostile input: RSS of a live SIP endpoint before and after 10 000 hostile SIP
messages and 100 short calls (issue 16: it must come back within 20 MB of the baseline).

The baseline is taken after one warm-up call, so imports and first-call allocations are not
counted as growth. Each short call: INVITE, ACK, 0.2 s of RTP both ways, BYE. Loopback only:
the hostile messages come from 127.0.0.2, the calls from 127.0.0.1.
Prints the figures and writes var/bench/hostile.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.robustness.generators import sip_inputs, sip_seeds  # noqa: E402
from tests.telephony.test_sip_calls import RawCaller, bot_config, stream_tone  # noqa: E402
from voicebot.telephony import sip  # noqa: E402
from voicebot.telephony.sip import SipCall, SipEndpoint  # noqa: E402


def rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


async def take(call: SipCall) -> None:
    """A one-second interview: calls the hostile INVITEs set up (some get ACKed by mutated
    ACKs) end on their own instead of filling max_calls."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(1.0):
            async for _ in call.frames():  # or until the caller's BYE
                pass


async def short_call(port: int) -> None:
    async with RawCaller(port) as alice:
        await alice.call()
        await stream_tone(alice, 1, 10)
        alice.sip.send(alice.request("BYE"))
        await alice.final("BYE")


async def hostile(port: int, count: int, seed: int) -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.2", 0)
    )  # another source than the callers': its un-ACKed INVITEs hold only its own quota
    try:
        rng = random.Random(seed)
        seeds = sip_seeds(port, "FUZZCALLID")
        for i, data in enumerate(sip_inputs(rng, seeds, count)):
            transport.sendto(data.replace(b"FUZZCALLID", f"h{i}".encode()), ("127.0.0.1", port))
            if i % 50 == 0:
                await asyncio.sleep(0.01)  # let the endpoint keep up (no flood drops)
    finally:
        transport.close()


async def main(messages: int, calls: int, seed: int) -> dict[str, float]:
    endpoint = SipEndpoint(bot_config(), take)
    await endpoint.start()
    try:
        await short_call(endpoint.port)
        await asyncio.sleep(0.5)
        gc.collect()
        baseline = rss_mb()
        started = time.monotonic()
        await hostile(endpoint.port, messages, seed)
        for _ in range(calls):
            await short_call(endpoint.port)
        await asyncio.sleep(1.0)  # the last calls' tasks wind down
        gc.collect()
        after = rss_mb()
        return {
            "baseline_mb": round(baseline, 1),
            "after_mb": round(after, 1),
            "growth_mb": round(after - baseline, 1),
            "messages": messages,
            "calls": calls,
            "seconds": round(time.monotonic() - started, 1),
            "live_calls_after": endpoint.active_calls,
            "server_transactions_after": len(endpoint._server_tx),
            "dropped": sum(endpoint.stats.dropped.values()),
        }
    finally:
        await endpoint.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--messages", type=int, default=10000)
    ap.add_argument("--calls", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sip.SIP_RATE_PER_S = 1e9  # measure memory, not the flood guard
    result = asyncio.run(main(args.messages, args.calls, args.seed))
    for key, value in result.items():
        print(f"{key:<28} {value}")
    out = REPO / "var" / "bench" / "hostile.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"written to {out}")
