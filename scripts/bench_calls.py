"""Load test: N concurrent loopback interviews against one bot process, measured end to end.

This process is the bot: it loads the models once, registers as `bot` to a throwaway kamailio
on 127.0.0.1 and dials cand0..candN-1. The candidates run in a child process (this script with
`--role candidates`), each a `voicebot.demo.ScriptedCandidate` on its own SIP extension, so the
CPU and memory measured here are the bot's alone. The report (JSON) goes to `--out` and stdout.

Usage: .venv/bin/python scripts/bench_calls.py --calls 4 [--hangover-ms 500] [--stagger-s 1]

`--bridge ari|agi --asterisk` runs the same interviews through a real Asterisk 22
(../shared/asterisk, started here on free loopback ports with `voicebot asterisk snippet`'s
config): the candidates register to it as PJSIP phones cand0..candN-1 and the bot originates
to them, as an ARI Stasis app (externalMedia RTP) or over AMI (AudioSocket via the snippet's
voicebot-audiosocket context); voice-to-voice is measured at the candidates' phones (from the
end of their answer to the first bot audio they hear), pacing at the bot.

`--bridge ari|agi` (without --asterisk) measures the PBX bridges' media path instead:
--calls (default 10) concurrent calls from the test Asterisk peers (ARI externalMedia RTP, or
FastAGI + AudioSocket); the bot speaks for --seconds on each, and the peer measures when each 20 ms
frame arrives. The JSON reports that pacing jitter (|inter-arrival - 20 ms|, p50/p99/max).
Exit status: 0 when every interview completed, 1 when some did not (the report says which),
2 when set-up or teardown overran --timeout-s, 130 when interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import logging
import os
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import psutil

from voicebot.config import Config, SipConfig, load_config
from voicebot.demo import DEFAULT_JOB, DEFAULT_SCRIPT, ScriptedCandidate, score_recognition
from voicebot.interview.plan import Job, load_job
from voicebot.interview.runner import Interviewer
from voicebot.interview.session import SessionResult
from voicebot.media.pacer import Pacer
from voicebot.speech.tts import PiperSynthesizer
from voicebot.store import Store
from voicebot.telephony.registrar import LocalRegistrar
from voicebot.telephony.sip import CallFailed, SipCall, SipEndpoint

log = logging.getLogger("bench_calls")

SAMPLE_EVERY_S = 0.1  # RSS and event-loop lag sampling period
RSS_TIMELINE_EVERY = 50  # samples: every 5 s
READY_TIMEOUT_S = 60.0  # the candidates' child: start, load piper, register everyone
TEARDOWN_S = 30.0  # calls still running this long before the overall deadline are cut
WARM_UTTERANCE_S = 15  # as long as the scripted story answer, the longest one
MB = 1024 * 1024
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# --- small helpers --------------------------------------------------------------------------


def summary(values: list[float], *percentiles: int) -> dict[str, float | int | None]:
    """{"p50": .., "p95": .., "max": .., "n": ..} rounded to 0.1, None when there is no data."""
    out: dict[str, float | int | None] = {}
    arr = np.asarray(values, dtype=float)
    for p in percentiles:
        out[f"p{p}"] = round(float(np.percentile(arr, p)), 1) if arr.size else None
    out["max"] = round(float(arr.max()), 1) if arr.size else None
    out["n"] = int(arr.size)
    return out


def candidate_sip(cfg: Config, user: str, password: str, registrar: str) -> SipConfig:
    """A candidate extension: ephemeral SIP port, RTP ports clear of the bot's (as the demo)."""
    low = cfg.sip.rtp_port_max + 1 if cfg.sip.rtp_port_max < 60000 else 40000
    high = cfg.sip.rtp_port_max + 1000 if cfg.sip.rtp_port_max < 60000 else 40999
    return replace(
        cfg.sip,
        listen_port=0,
        username=user,
        password=password,
        registrar=registrar,
        display_name=user,
        rtp_port_min=low,
        rtp_port_max=high,
    )


def process_cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of `pids` (threads included); gone processes count 0."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
    return total


def host_busy_s() -> float:
    """CPU seconds the whole host has spent busy, all cores together."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + getattr(t, "irq", 0) + getattr(t, "softirq", 0)


def thread_cpu_s() -> dict[str, float]:
    """This process's CPU seconds by thread kind: the event loop, each Python pool, native.

    Native threads are the engines' own (CTranslate2 for whisper, onnxruntime for piper).
    """
    main = threading.main_thread().native_id
    names = {t.native_id: re.sub(r"_\d+$", "", t.name) for t in threading.enumerate()}
    out: dict[str, float] = {}
    for t in psutil.Process().threads():
        kind = "event_loop" if t.id == main else names.get(t.id, "native")
        out[kind] = out.get(kind, 0.0) + t.user_time + t.system_time
    return out


@dataclass
class CpuUse:
    """CPU seconds over the measured window, by whom; `host` includes everyone else too."""

    bot: float
    candidates: float
    registrar: float
    host: float

    def __sub__(self, other: CpuUse) -> CpuUse:
        return CpuUse(
            self.bot - other.bot,
            self.candidates - other.candidates,
            self.registrar - other.registrar,
            self.host - other.host,
        )


class CpuMeter:
    """Reads the CPU seconds used so far by the bot, the candidates, kamailio and the host."""

    def __init__(self, candidates_pid: int | None) -> None:
        me = psutil.Process()
        self.candidates = [candidates_pid] if candidates_pid else []
        self.registrar = [p.pid for p in me.children(recursive=True) if p.pid != candidates_pid]
        self.bot = [me.pid]

    def now(self) -> CpuUse:
        return CpuUse(
            process_cpu_s(self.bot),
            process_cpu_s(self.candidates),
            process_cpu_s(self.registrar),
            host_busy_s(),
        )


# --- the candidates' side (child process) ---------------------------------------------------


def emit(event: dict[str, Any]) -> None:
    """One JSON line to the bot process."""
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def time_arrivals(call: SipCall) -> list[float]:
    """When each RTP packet reaches the candidate's phone (monotonic seconds)."""
    arrivals: list[float] = []
    on_rtp = call._on_rtp

    def timed(data: bytes, addr: tuple[str, int]) -> None:
        arrivals.append(time.monotonic())
        on_rtp(data, addr)

    call._on_rtp = timed  # type: ignore[method-assign]
    return arrivals


def arrival_jitter_ms(arrivals: list[float]) -> list[float]:
    """|inter-arrival - 20 ms| of every packet after the first, at the phone."""
    gaps = np.diff(np.asarray(arrivals)) * 1000
    return [round(float(g), 2) for g in np.abs(gaps - 20.0)]


async def run_candidates(cfg: Config, timeout_s: float) -> None:
    """Read {registrar, users} from stdin, answer every call, report each; stop on stdin EOF."""
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    setup = json.loads(await stdin.readline())
    tts = PiperSynthesizer(
        cfg.speech.tts_voice or None,
        8000,
        cache_dir=Path(cfg.speech.cache_dir) if cfg.speech.cache_dir else None,
        length_scale=1.05,
    )
    await tts.warm(DEFAULT_SCRIPT)

    def answer_as(user: str) -> Callable[[SipCall], Any]:
        async def answer(call: SipCall) -> None:
            candidate = ScriptedCandidate(DEFAULT_SCRIPT, tts)
            arrivals = time_arrivals(call)
            try:
                await candidate.run(call)
            finally:
                emit(
                    {
                        "event": "call",
                        "user": user,
                        "answers_spoken": candidate.log.answers_spoken,
                        "voice_to_voice_ms": candidate.log.voice_to_voice_ms,
                        "heard_bot_s": round(candidate.log.heard_bot_s, 2),
                        "arrival_jitter_ms": arrival_jitter_ms(arrivals),
                    }
                )

        return answer

    async with contextlib.AsyncExitStack() as stack:
        endpoints = [
            await stack.enter_async_context(
                SipEndpoint(candidate_sip(cfg, user, pw, setup["registrar"]), answer_as(user))
            )
            for user, pw in setup["users"].items()
        ]
        await asyncio.wait_for(asyncio.gather(*(e.registered.wait() for e in endpoints)), 30)
        emit({"event": "ready"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stdin.read(), timeout_s)  # EOF: the bot is done (or died)


# --- the bot's side (this process) ----------------------------------------------------------


class Candidates:
    """The child process that plays cand0..candN-1; its reports arrive as JSON lines."""

    def __init__(self, users: dict[str, str], registrar: str, argv: list[str]) -> None:
        self.users = users
        self.registrar = registrar
        self.argv = argv
        self.ready = asyncio.Event()
        self.logs: dict[str, dict[str, Any]] = {}
        self.reported = asyncio.Condition()
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    async def __aenter__(self) -> Candidates:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--role",
            "candidates",
            *self.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self.proc.stdin is not None
        setup = {"registrar": self.registrar, "users": self.users}
        self.proc.stdin.write((json.dumps(setup) + "\n").encode())
        await self.proc.stdin.drain()
        self._reader = asyncio.create_task(self._read())
        ready = asyncio.create_task(self.ready.wait())
        await asyncio.wait(
            {ready, self._reader}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
        )
        if not self.ready.is_set():  # timed out, or the child exited before it was ready
            ready.cancel()
            await self.__aexit__()
            raise RuntimeError(
                f"the candidates' process exited or did not register its users within "
                f"{READY_TIMEOUT_S:.0f} s (its stderr is above)"
            )
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        async for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a library printing to stdout
            if event.get("event") == "ready":
                self.ready.set()
            elif event.get("event") == "call":
                async with self.reported:
                    self.logs[event["user"]] = event
                    self.reported.notify_all()

    async def wait_reports(self, users: list[str]) -> None:
        """Until every one of `users` has reported its call (wrap it in a timeout)."""
        async with self.reported:
            await self.reported.wait_for(lambda: all(u in self.logs for u in users))

    async def __aexit__(self, *exc: object) -> None:
        proc = self.proc
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
        if self._reader is not None:
            self._reader.cancel()


class Monitor:
    """Samples this process's RSS and the event loop's lateness every SAMPLE_EVERY_S."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.peak_rss = self.proc.memory_info().rss
        self.loop_lag_ms: list[float] = []
        self.rss_timeline: list[tuple[float, float]] = []  # (s since start, MB) every 5 s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.peak_rss = self.proc.memory_info().rss
        self._task = asyncio.create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        started = time.monotonic()
        for tick in itertools.count():
            due = time.monotonic() + SAMPLE_EVERY_S
            await asyncio.sleep(SAMPLE_EVERY_S)
            self.loop_lag_ms.append(max(0.0, time.monotonic() - due) * 1000)
            rss = self.proc.memory_info().rss
            self.peak_rss = max(self.peak_rss, rss)
            if tick % RSS_TIMELINE_EVERY == 0:
                self.rss_timeline.append((round(time.monotonic() - started), round(rss / MB)))


class TimedExecutor:
    """Wraps an executor's submit: how long each job queued and how long it ran."""

    def __init__(self, executor: Executor) -> None:
        self.queued_ms: list[float] = []
        self.run_ms: list[float] = []
        self.audio_s: list[float] = []
        self._submit = executor.submit
        executor.submit = self.submit  # type: ignore[method-assign]

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        queued = time.perf_counter()

        def timed() -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.queued_ms.append((started - queued) * 1000)
                self.run_ms.append((time.perf_counter() - started) * 1000)
                if len(args) == 2 and isinstance(args[0], bytes) and isinstance(args[1], int):
                    self.audio_s.append(len(args[0]) / 2 / args[1])  # transcribe(pcm, rate)

        return self._submit(timed)


def record_pacing(pacer: Pacer, samples: list[float]) -> None:
    """Keep every lateness the pacer reports (its own history is the last 60 s only)."""
    wait = pacer.wait

    async def recorded() -> float:
        lateness = await wait()
        samples.append(lateness * 1000)
        return lateness

    pacer.wait = recorded  # type: ignore[method-assign]


@dataclass
class CallRun:
    user: str
    outcome: str = "not_started"
    result: SessionResult | None = None
    call: Any = None  # a SipCall, or an AriCall with --asterisk
    pacing_ms: list[float] = field(default_factory=list)
    started: float = 0.0
    ended: float = 0.0


async def run_call(
    dial: Callable[[str], Any], interviewer: Interviewer, job: Job, run: CallRun, delay: float
) -> None:
    await asyncio.sleep(delay)
    run.started = time.monotonic()
    try:
        run.call = await dial(run.user)
        record_pacing(run.call.pacer, run.pacing_ms)
        run.outcome = "in_progress"
        run.result = await interviewer.interview(run.call, job)
        run.outcome = run.result.outcome
    except CallFailed as e:
        run.outcome = f"call_failed: {e}"
    except asyncio.CancelledError:
        run.outcome = "timeout" if run.outcome == "in_progress" else run.outcome
        raise
    finally:
        run.ended = time.monotonic()


async def warm_asr(interviewer: Interviewer, job: Job, workers: int) -> None:
    """One long decode per ASR worker: the decoders' one-time allocations go in the baseline."""
    pcm = b"".join([await interviewer.tts.render(q.text) for q in job.questions])
    pcm = pcm[: 8000 * 2 * WARM_UTTERANCE_S]
    recognizers = [interviewer.asr.recognizer(8000) for _ in range(workers)]
    for r in recognizers:
        await r.feed(pcm)
    await asyncio.gather(*(r.finish() for r in recognizers))


async def bench(args: argparse.Namespace, cfg: Config, deadline: float) -> dict[str, Any]:
    n = args.calls
    job = load_job(DEFAULT_JOB)
    users = {f"cand{i}": secrets.token_hex(8) for i in range(n)}
    bot_pw = secrets.token_hex(8)
    workdir = Path(tempfile.mkdtemp(prefix="voicebot-bench-"))
    me = psutil.Process()
    store = await Store.open(workdir / "bench.db")
    try:
        t_load = time.monotonic()
        interviewer = await Interviewer.create(cfg, store=store)
        await interviewer.warm_prompts(job)
        await warm_asr(interviewer, job, cfg.speech.asr_threads)
        load_s = time.monotonic() - t_load
        asr_executor = getattr(interviewer.asr, "executor", None)
        asr_timer = TimedExecutor(asr_executor) if asr_executor is not None else None
        decode_queue = getattr(interviewer.asr, "decodes", None)  # Whisper: speech/decodes.py
        decodes_before = len(decode_queue.stats.runs) if decode_queue is not None else 0
        tts_before = getattr(interviewer.tts, "cache_stats", None)
        child_argv = ["--config", str(args.config)] if args.config else []
        async with contextlib.AsyncExitStack() as stack:
            if args.asterisk:
                pbx, pbx_bridge = await start_asterisk(stack, args.bridge, users, workdir)
                registrar = f"127.0.0.1:{pbx.sip_port}"
                dial: Callable[[str], Any] = pbx_bridge.dial  # PJSIP/<user>: the phone
            else:
                reg = await stack.enter_async_context(
                    LocalRegistrar({"bot": bot_pw, **users}, workdir=workdir)
                )
                registrar = f"{reg.host}:{reg.port}"
                bot_cfg = replace(
                    cfg.sip, listen_port=0, username="bot", password=bot_pw, registrar=registrar
                )
                bot = await stack.enter_async_context(SipEndpoint(bot_cfg))
                await asyncio.wait_for(bot.registered.wait(), 10)

                def dial(user: str) -> Any:
                    return bot.call(f"sip:{user}@{registrar}")

            cands = await stack.enter_async_context(Candidates(users, registrar, child_argv))
            log.info(
                "models loaded in %.1f s, registered in %.1f s; placing %d calls",
                load_s,
                time.monotonic() - t_load - load_s,
                n,
            )
            meter = CpuMeter(cands.pid)
            monitor = Monitor()
            baseline_rss = me.memory_info().rss
            monitor.start()
            cpu0, threads0 = meter.now(), thread_cpu_s()
            t0 = time.monotonic()
            runs = [CallRun(user) for user in users]
            tasks = [
                asyncio.create_task(run_call(dial, interviewer, job, run, i * args.stagger_s))
                for i, run in enumerate(runs)
            ]
            left = max(1.0, deadline - time.monotonic())
            _, pending = await asyncio.wait(tasks, timeout=left)
            for task in pending:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            wall = time.monotonic() - t0
            cpu = meter.now() - cpu0
            threads = {k: v - threads0.get(k, 0.0) for k, v in thread_cpu_s().items()}
            monitor.stop()
            log.info("calls done in %.1f s: %s", wall, [r.outcome for r in runs])
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(15):
                    await cands.wait_reports([r.user for r in runs if r.call is not None])
            if args.asterisk:
                still = await asyncio.to_thread(pbx.wait_clean, 10)
                leftovers = {"channels": len(still.channels), "bridges": len(still.bridges)}
            t_down = time.monotonic()
        log.info("torn down in %.1f s", time.monotonic() - t_down)
    finally:
        await store.close()
        shutil.rmtree(workdir, ignore_errors=True)
    result = report(
        args=args,
        cfg=cfg,
        questions=len(job.questions),
        runs=runs,
        cand_logs=cands.logs,
        wall=wall,
        cpu=cpu,
        threads=threads,
        baseline_rss=baseline_rss,
        monitor=monitor,
        asr_timer=asr_timer,
        decodes=(decode_queue, decodes_before) if decode_queue is not None else None,
        tts_before=tts_before,
        tts_after=getattr(interviewer.tts, "cache_stats", None),
    )
    if args.asterisk:
        media = {"ari": "ARI externalMedia ulaw", "agi": "AMI Originate + AudioSocket slin"}
        result = {
            "bridge": args.bridge,
            "pbx": f"real Asterisk 22.10.1 on 127.0.0.1 (PJSIP phones, {media[args.bridge]})",
            "leftovers_after_calls": leftovers,
            **result,
        }
    return result


async def start_asterisk(
    stack: contextlib.AsyncExitStack, bridge: str, users: dict[str, str], workdir: Path
) -> tuple[Any, Any]:
    """A real Asterisk with a PJSIP phone per candidate, and the bot's `bridge` on it (ARI,
    or AMI + FastAGI + AudioSocket), configured from `voicebot asterisk snippet`."""
    sys.path.insert(0, REPO)  # the tests' Asterisk harness
    from tests.asterisk.pbx import Pbx
    from voicebot.telephony.agi import AgiBridge
    from voicebot.telephony.ari import AriBridge

    pbx = Pbx(workdir / "asterisk")
    cfg = pbx.voicebot_config(
        bridge, ari={"endpoint": "PJSIP/{number}"}, agi={"channel": "PJSIP/{number}"}
    )
    phones = "".join(
        f"\n[{u}]\ntype = endpoint\ncontext = from-phones\ndisallow = all\nallow = ulaw\n"
        f"auth = {u}\naors = {u}\ndirect_media = no\nrtp_symmetric = yes\n"
        f"\n[{u}]\ntype = auth\nauth_type = userpass\nusername = {u}\npassword = {pw}\n"
        f"\n[{u}]\ntype = aor\nmax_contacts = 1\nremove_existing = yes\n"
        for u, pw in users.items()
    )
    await asyncio.to_thread(pbx.start, cfg, {"pjsip.conf": phones})
    stack.callback(pbx.stop)
    if bridge == "agi":
        agi = await stack.enter_async_context(AgiBridge(cfg.agi))
        await asyncio.wait_for(agi.logged_in.wait(), 10)
        return pbx, agi
    ari = await stack.enter_async_context(AriBridge(cfg.ari))
    await asyncio.wait_for(ari.connected.wait(), 10)
    return pbx, ari


def report(
    *,
    args: argparse.Namespace,
    cfg: Config,
    questions: int,
    runs: list[CallRun],
    cand_logs: dict[str, dict[str, Any]],
    wall: float,
    cpu: CpuUse,
    threads: dict[str, float],
    baseline_rss: int,
    monitor: Monitor,
    asr_timer: TimedExecutor | None,
    tts_before: Any,
    tts_after: Any,
    decodes: tuple[Any, int] | None = None,
) -> dict[str, Any]:
    n = len(runs)
    v2v: list[float] = []
    at_phone: list[float] = []
    bot_latency: list[float] = []
    pacing: list[float] = []
    recognized = 0
    per_call = []
    for run in runs:
        spoken = cand_logs.get(run.user, {})
        v2v += spoken.get("voice_to_voice_ms", [])
        at_phone += spoken.get("arrival_jitter_ms", [])
        pacing += run.pacing_ms
        turns = run.result.turns if run.result else []
        latencies = [t.latency_ms for t in turns if t.latency_ms is not None]
        bot_latency += latencies
        got = score_recognition(run.result, spoken.get("answers_spoken", [])) if run.result else 0
        recognized += got
        stats = run.call.stats if run.call else None
        per_call.append(
            {
                "user": run.user,
                "outcome": run.outcome,
                "duration_s": round(run.ended - run.started, 1),
                "recognized_answers": got,
                "questions_answered": len(run.result.answers) if run.result else 0,
                "voice_to_voice_ms": [round(v) for v in spoken.get("voice_to_voice_ms", [])],
                "bot_reply_latency_ms": [round(v) for v in latencies],
                "pacer_p99_ms": round(run.call.pacer.jitter_p99_ms(), 2) if run.call else None,
                "pacer_reanchors": run.call.pacer.stats.reanchors if run.call else None,
                "packets_out": stats.packets_out if stats else None,
                "concealed": stats.concealed if stats else None,
                "dropped": stats.dropped if stats else None,
            }
        )
    peak_mb, base_mb = monitor.peak_rss / MB, baseline_rss / MB
    call_s = sum(r.ended - r.started for r in runs if r.call is not None)
    asr = None
    if asr_timer is not None:
        rtf = [r / 1000 / a for r, a in zip(asr_timer.run_ms, asr_timer.audio_s, strict=False) if a]
        asr = {
            "decodes": len(asr_timer.run_ms),
            "queue_wait_ms": summary(asr_timer.queued_ms, 50, 95),
            "decode_ms": summary(asr_timer.run_ms, 50, 95),
            "real_time_factor": summary(rtf, 50, 95),
            "workers": cfg.speech.asr_threads,
        }
    if decodes is not None:
        decode_queue, decodes_before = decodes
        ran = list(decode_queue.stats.runs)[decodes_before:]
        finals = [r for r in ran if r[0]]
        asr = {
            "decodes": len(ran),
            "queue_wait_ms": summary([q for _, q, _ in ran], 50, 95),
            "final_queue_wait_ms": summary([q for _, q, _ in finals], 50, 95),
            "decode_ms": summary([r for _, _, r in ran], 50, 95),
            "finals": len(finals),
            "promoted": decode_queue.stats.promoted,
            "shed": decode_queue.stats.shed,
            "workers": cfg.speech.asr_threads,
        }
    tts = None
    if tts_before is not None and tts_after is not None:
        tts = {"misses_during_calls": tts_after.misses - tts_before.misses}
    return {
        "calls": n,
        "completed": sum(r.outcome == "completed" for r in runs),
        "outcomes": {o: sum(r.outcome == o for r in runs) for o in {r.outcome for r in runs}},
        "all_questions_answered": sum(
            bool(r.result) and len(r.result.answers) == questions for r in runs
        ),
        "cores": os.cpu_count(),
        "hangover_ms": cfg.speech.vad_hangover_ms,
        "stagger_s": args.stagger_s,
        "wall_s": round(wall, 1),
        "voice_to_voice_ms": summary(v2v, 50, 95),
        "bot_reply_latency_ms": summary(bot_latency, 50, 95),
        "pacing_jitter_ms": {
            **{k: v for k, v in summary(pacing, 50, 99).items() if k != "p50"},
            "reanchors": sum(r.call.pacer.stats.reanchors for r in runs if r.call),
        },
        # the same |inter-arrival - 20 ms|, of the bot's packets as the phones receive them
        "pacing_jitter_at_phone_ms": summary(at_phone, 50, 95, 99),
        "event_loop_lag_ms": summary(monitor.loop_lag_ms, 50, 99),
        "cpu_percent_per_call": round(cpu.bot / wall / n * 100, 2),
        # per second of call actually in progress (the ramp and tail make wall*n too long)
        "cpu_percent_per_active_call": round(cpu.bot / call_s * 100, 2) if call_s else None,
        "cpu_percent": {  # of one core, averaged over the window; the host has `cores`
            "bot": round(cpu.bot / wall * 100, 1),
            "candidates": round(cpu.candidates / wall * 100, 1),
            "registrar": round(cpu.registrar / wall * 100, 1),
            "other_processes": round(
                (cpu.host - cpu.bot - cpu.candidates - cpu.registrar) / wall * 100, 1
            ),
        },
        "bot_cpu_percent_by_thread": {
            k: round(v / wall * 100, 1) for k, v in sorted(threads.items()) if v > 0.05
        },
        "rss_mb": {
            "baseline": round(base_mb, 1),
            "peak": round(peak_mb, 1),
            "per_extra_call": round((peak_mb - base_mb) / n, 2),
            "timeline": monitor.rss_timeline,
        },
        "recognized_answers": recognized,
        "scripted_answers": n * len(DEFAULT_SCRIPT),
        "asr": asr,
        "tts": tts,
        "per_call": per_call,
    }


# --- command line ---------------------------------------------------------------------------


# --- PBX bridges: media pacing over ARI externalMedia and AudioSocket -------------------------


async def bench_bridge(args: argparse.Namespace) -> dict[str, Any]:
    """N calls through the test Asterisk; the bot talks on each, the peer times every frame."""
    sys.path.insert(0, REPO)  # the tests' Asterisk peers
    from tests.peers.agi_peer import AgiPeer
    from tests.peers.ari_server import AriServer
    from voicebot.config import AgiConfig, AriConfig
    from voicebot.telephony.agi import AgiBridge
    from voicebot.telephony.ari import AriBridge

    calls: asyncio.Queue[Any] = asyncio.Queue()
    release = asyncio.Event()

    async def take(call: Any) -> None:
        calls.put_nowait(call)
        await release.wait()

    t = np.arange(int(args.seconds * 8000)) / 8000
    speech = (8000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()

    async def talk(call: Any) -> None:
        for i in range(0, len(speech), 320):
            await call.send(speech[i : i + 320])
        await call.drained()

    legs: list[Any] = []
    if args.bridge == "ari":
        asterisk = AriServer(password="bench")
        await asterisk.start()
        bot: Any = AriBridge(AriConfig(url=asterisk.url, password="bench"), take)
        await bot.start()
        await asyncio.wait_for(bot.connected.wait(), 10)
        channels = [await asterisk.ring_in(f"+1555000{i:04d}") for i in range(args.calls)]
        bot_calls = [await asyncio.wait_for(calls.get(), 10) for _ in channels]
        legs = [asterisk.media_leg(ch) for ch in channels]
    else:
        asterisk = None
        bot = AgiBridge(AgiConfig(ami_username="", agi_port=0, audiosocket_port=0), take)
        await bot.start()
        peers = [AgiPeer(bot.agi_port, caller=f"+1555000{i:04d}") for i in range(args.calls)]
        sessions = [asyncio.create_task(peer.run()) for peer in peers]
        bot_calls = [await asyncio.wait_for(calls.get(), 10) for _ in peers]
        for peer in peers:
            await asyncio.wait_for(peer.audiosocket_ready.wait(), 10)
        legs = [peer.callee for peer in peers]
    monitor = Monitor()
    monitor.start()
    try:
        await asyncio.gather(*(talk(call) for call in bot_calls))
    finally:
        monitor.stop()
        release.set()
        await bot.stop()
        if asterisk is not None:
            await asterisk.stop()
        else:
            for task in sessions:
                task.cancel()
    jitter = [j for leg in legs for j in leg.jitter_ms()]
    frames = [len(leg.arrivals) for leg in legs]
    lateness = [c.pacer.jitter_p99_ms() for c in bot_calls]
    return {
        "bridge": args.bridge,
        "calls": args.calls,
        "seconds_spoken": args.seconds,
        "frames_received_per_call": {"min": min(frames), "max": max(frames)},
        "pacing_jitter_ms": {f"p{p}": round(float(np.percentile(jitter, p)), 2) for p in (50, 99)}
        | {"max": round(max(jitter), 2), "n": len(jitter)},
        "bot_pacer_lateness_p99_ms": round(max(lateness), 2),
        "event_loop_lag_ms": summary(monitor.loop_lag_ms, 50, 99),
        "measured_at": "the peer: |inter-arrival - 20 ms| of each frame the bot sent",
    }


DEFAULT_OUT = Path("var/bench/calls.json")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, help="concurrent calls (default 4; 10 for --bridge)")
    p.add_argument("--bridge", choices=("sip", "ari", "agi"), default="sip")
    p.add_argument("--seconds", type=float, default=10.0, help="--bridge: bot speech per call")
    p.add_argument(
        "--asterisk",
        action="store_true",
        help="with --bridge ari|agi: full interviews through a real Asterisk (../shared/asterisk)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--hangover-ms", type=int, help="override speech.vad_hangover_ms")
    p.add_argument("--stagger-s", type=float, default=1.0, help="between call starts")
    p.add_argument("--timeout-s", type=float, default=600.0, help="overall limit (default 600)")
    p.add_argument("--config", type=Path, help="voicebot TOML (default: $VOICEBOT_CONFIG)")
    p.add_argument("--role", choices=("bot", "candidates"), default="bot", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.calls is None:
        args.calls = 4 if args.bridge == "sip" else 10
    if args.calls < 1:
        p.error("--calls must be at least 1")
    if args.asterisk and args.bridge == "sip":
        p.error("--asterisk needs --bridge ari or --bridge agi")
    return args


def load(args: argparse.Namespace) -> Config:
    env_path = os.environ.get("VOICEBOT_CONFIG")
    cfg = load_config(args.config or (Path(env_path) if env_path else None))
    if args.hangover_ms is not None:
        cfg = replace(cfg, speech=replace(cfg.speech, vad_hangover_ms=args.hangover_ms))
    return cfg.validate()


async def amain(args: argparse.Namespace) -> int:
    cfg = load(args)
    main = asyncio.current_task()
    assert main is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, main.cancel)
    if args.role == "candidates":
        await run_candidates(cfg, args.timeout_s + 60)
        return 0
    if args.bridge != "sip" and not args.asterisk:
        text = json.dumps(await bench_bridge(args), indent=2)
        print(text)
        out = args.out.with_name(f"calls-{args.bridge}.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        return 0
    started = time.monotonic()
    try:
        result = await asyncio.wait_for(
            bench(args, cfg, deadline=started + args.timeout_s - TEARDOWN_S), args.timeout_s
        )
    except TimeoutError:
        log.error("gave up after %.0f s (set-up or teardown hung); no report", args.timeout_s)
        return 2
    text = json.dumps(result, indent=2)
    out = args.out
    if args.asterisk and out == DEFAULT_OUT:
        out = out.with_name(f"calls-asterisk-{args.bridge}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(text)
    return 0 if result["completed"] == result["calls"] else 1


def main() -> None:
    args = parse_args()
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format=f"%(asctime)s {args.role} %(levelname)s %(name)s: %(message)s",
    )
    log.setLevel(logging.INFO)
    try:
        code = asyncio.run(amain(args))
    except (KeyboardInterrupt, asyncio.CancelledError):
        log.error("interrupted; registrar and candidates stopped, no report")
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
