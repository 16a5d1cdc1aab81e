"""Outbound frame lateness under a busy event loop: the loop pacer against the sender thread.

N concurrent streams (1, 4, 16) send 20 ms RTP-sized datagrams over real UDP on 127.0.0.1
to a receiver in another process, which timestamps every arrival on the system-wide
monotonic clock. Meanwhile the event loop is loaded the way calls load it: each call does a
few ms of pure-Python work (feature extraction, scoring) every 200 ms, and once a second the
loop is blocked for 80 ms (a decode or a report written on the loop). Lateness of frame i of
a stream is its arrival minus ``base + i * 20 ms``, ``base`` the stream's earliest offset, so
a re-anchored grid (the receiver hears a hole) counts as late from then on. Configurations
run interleaved, `--rounds` times each; the JSON gives each round's figures and the spread.

Usage: .venv/bin/python scripts/bench_pacing.py [--seconds 3] [--rounds 3] [--calls 1,4,16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import random
import re
import socket
import struct
import time
from typing import Any

import numpy as np

from voicebot.media.frames import FRAME_SECONDS
from voicebot.media.pacer import Pacer
from voicebot.media.sender import FrameSender, UdpOut

PAYLOAD = 172  # 12-byte RTP header + 160 bytes of μ-law


def _receiver(port_q: Any, result_q: Any, expected: int, deadline_s: float) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    port_q.put(sock.getsockname()[1])
    sock.settimeout(0.5)
    arrivals: list[tuple[int, int, float]] = []
    end = time.monotonic() + deadline_s
    while len(arrivals) < expected and time.monotonic() < end:
        try:
            data = sock.recv(2048)
        except TimeoutError:
            continue
        stream, seq = struct.unpack_from("!II", data)
        arrivals.append((stream, seq, time.monotonic()))
    result_q.put(arrivals)


def _burn(ms: float) -> None:
    """Pure-Python work holding the GIL, as the loop's own code does."""
    end = time.perf_counter() + ms / 1000
    x = 0
    while time.perf_counter() < end:
        x += sum(range(200))


async def _load(calls: int, stop: asyncio.Event) -> None:
    async def per_call(i: int) -> None:
        await asyncio.sleep(0.2 * i / max(calls, 1))
        while not stop.is_set():
            _burn(4.0)
            await asyncio.sleep(0.2)

    async def blocker() -> None:
        while not stop.is_set():
            await asyncio.sleep(1.0)
            _burn(80.0)

    await asyncio.gather(blocker(), *(per_call(i) for i in range(calls)))


async def _run(mode: str, calls: int, seconds: float, port: int) -> None:
    loop = asyncio.get_running_loop()
    frames = int(seconds / FRAME_SECONDS)
    transports = []
    for _ in range(calls):
        tr, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
        )
        transports.append(tr)
    dest = ("127.0.0.1", port)
    stop = asyncio.Event()
    load = asyncio.create_task(_load(calls, stop))
    body = b"\0" * (PAYLOAD - 8)

    if mode == "loop":

        async def stream(i: int, tr: asyncio.DatagramTransport) -> None:
            pacer = Pacer()
            for seq in range(frames):
                await pacer.wait()
                tr.sendto(struct.pack("!II", i, seq) + body, dest)

        await asyncio.gather(*(stream(i, tr) for i, tr in enumerate(transports)))
    else:
        sender = FrameSender()
        done = asyncio.Event()
        left = [calls]

        def make_tick(i: int, out: UdpOut) -> Any:
            seq = [0]

            def tick() -> None:
                if seq[0] < frames:
                    out.sendto(struct.pack("!II", i, seq[0]) + body, dest)
                    seq[0] += 1
                    if seq[0] == frames:
                        left[0] -= 1
                        if left[0] == 0:
                            loop.call_soon_threadsafe(done.set)

            return tick

        outs = [UdpOut(tr) for tr in transports]
        streams = [sender.add(make_tick(i, o), f"s{i}") for i, o in enumerate(outs)]
        await done.wait()
        for s in streams:
            sender.remove(s)
        sender.stop()
        for o in outs:
            o.close()
    stop.set()
    await load
    for tr in transports:
        tr.close()


def _lateness(arrivals: list[tuple[int, int, float]], calls: int) -> dict[str, float]:
    late: list[np.ndarray] = []
    gaps: list[float] = []
    for i in range(calls):
        rows = sorted((seq, t) for s, seq, t in arrivals if s == i)
        if not rows:
            continue
        seq = np.array([r[0] for r in rows], dtype=float)
        t = np.array([r[1] for r in rows])
        offset = t - seq * FRAME_SECONDS
        late.append((offset - offset.min()) * 1000)
        gaps.append(float(np.diff(t).max() * 1000) if len(t) > 1 else 0.0)
    all_late = np.concatenate(late) if late else np.zeros(1)
    return {
        "p50_ms": round(float(np.percentile(all_late, 50)), 2),
        "p99_ms": round(float(np.percentile(all_late, 99)), 2),
        "max_ms": round(float(all_late.max()), 2),
        "max_gap_ms": round(max(gaps, default=0.0), 2),
        "received": len(arrivals),
    }


def one(mode: str, calls: int, seconds: float) -> dict[str, float]:
    ctx = mp.get_context("spawn")
    port_q, result_q = ctx.Queue(), ctx.Queue()
    frames = int(seconds / FRAME_SECONDS)
    proc = ctx.Process(
        target=_receiver, args=(port_q, result_q, frames * calls, seconds + 10), daemon=True
    )
    proc.start()
    port = port_q.get(timeout=30)
    asyncio.run(_run(mode, calls, seconds, port))
    arrivals = result_q.get(timeout=seconds + 15)
    proc.join(timeout=5)
    out = _lateness(arrivals, calls)
    out["sent"] = frames * calls
    return out


async def _speak(texts: list[str], cached: bool) -> list[float]:
    """Decision -> first frame handed to the wire by the sender thread, through the same
    sentence-by-sentence TTS path the session uses (`--speak`)."""
    from collections import deque

    from voicebot.speech.tts import PiperSynthesizer

    tts = PiperSynthesizer()
    await tts.warm(texts if cached else ["Warming the voice up."])
    sender = FrameSender()
    out: deque[bytes] = deque()
    left: list[tuple[float, asyncio.Event]] = []
    loop = asyncio.get_running_loop()
    firsts: list[float] = []

    def tick() -> None:
        if out:
            out.popleft()
            if left:
                t0, ev = left.pop()
                firsts.append(time.monotonic() - t0)
                loop.call_soon_threadsafe(ev.set)

    stream = sender.add(tick)
    for text in texts:
        ev = asyncio.Event()
        t0 = time.monotonic()  # the decision: the reply text is known
        first = re.split(r"(?<=[.!?])\s+", text)[0]
        async for chunk in tts.stream(first if cached else f"{first} ({len(firsts)})"):
            left.append((t0, ev))
            out.append(chunk[:320])
            break
        await ev.wait()
        out.clear()
        await asyncio.sleep(random.uniform(0.03, 0.07))  # calls decide at any phase
    sender.remove(stream)
    sender.stop()
    return [f * 1000 for f in firsts]


def _p(xs: list[float], q: float) -> float:
    return round(float(np.percentile(xs, q)), 1) if xs else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", default="1,4,16")
    ap.add_argument("--speak", action="store_true", help="decision -> first frame, piper voice")
    args = ap.parse_args()
    if args.speak:
        fixed = [
            "Thanks, that's helpful.",
            "Got it.",
            "Sorry, I didn't catch that.",
            "Could you say that again?",
            "Thank you for your time today.",
            "Okay, next question.",
        ] * 3
        generated = [
            f"You mentioned {n} years of experience with queues. Tell me about the hardest bug."
            for n in range(12)
        ]
        res = {}
        for name, texts, cached in (("fixed", fixed, True), ("generated", generated, False)):
            ms = asyncio.run(_speak(texts, cached))
            res[name] = {"p50_ms": _p(ms, 50), "p95_ms": _p(ms, 95), "n": len(ms)}
        print(json.dumps({"decision_to_first_frame": res}, indent=1))
        return
    ns = [int(n) for n in args.calls.split(",")]
    runs: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.rounds):  # interleaved: a busy neighbour hits both modes alike
        for n in ns:
            for mode in ("loop", "thread"):
                runs.setdefault(f"{mode}/{n}", []).append(one(mode, n, args.seconds))
    summary = {}
    for key, rs in runs.items():
        summary[key] = {
            m: [r[m] for r in rs] for m in ("p50_ms", "p99_ms", "max_ms", "max_gap_ms")
        } | {"lost": sum(r["sent"] - r["received"] for r in rs)}
    print(json.dumps({"seconds": args.seconds, "rounds": args.rounds, "runs": summary}, indent=1))


if __name__ == "__main__":
    main()
