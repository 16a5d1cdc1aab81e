"""The Rasa engine: each call is a Rasa conversation driven over HTTP, with the built-in
engine as a safety net.

Every call gets its own sender id; every message carries the call's context as metadata
(the plan's questions, locale, time zone, the current time), which the custom actions
(`actions.py`, served by rasa-sdk) read, so the action server keeps nothing per call. Each
reply ends with the conversation's state (the slots): if Rasa is down when the call starts,
stops answering mid-call, is slower than `turn_timeout_s`, or sends something malformed, the
built-in engine takes the call over from that state, and one warning says so. A call never
dies because Rasa did.

`RasaServer` starts and stops the two processes (the Rasa server from its Python 3.10 venv,
the action server in voicebot's own Python) on 127.0.0.1, for `voicebot demo --policy rasa`,
the tests and the benchmark.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import secrets
import sys
import tempfile
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from voicebot.dialogue.builtin import RASA_PROJECT, BuiltinEngine, BuiltinPolicy, default_engine
from voicebot.dialogue.flow import MalformedReply, context_metadata, to_actions
from voicebot.dialogue.policy import (
    Action,
    InterviewContext,
    KeyPress,
    PolicyEvent,
    Silence,
    Utterance,
)
from voicebot.pii import redact

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[2]


class RasaUnavailable(RuntimeError):
    """Rasa did not answer, or answered something the flow cannot use."""


class RasaEngine:
    """What every call shares: the HTTP session to one Rasa server and the fallback engine."""

    def __init__(
        self,
        url: str,
        *,
        turn_timeout_s: float = 2.0,
        fallback: BuiltinEngine | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.turn_timeout_s = turn_timeout_s
        self.fallback = fallback
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> RasaEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def policy(self, clock: Callable[[], datetime] | None = None) -> RasaPolicy:
        return RasaPolicy(self, clock=clock)

    async def send(self, sender: str, message: str, metadata: Mapping[str, Any]) -> list[dict]:
        """One turn: the bot's messages (custom payloads) for `message`."""
        body = {"sender": sender, "message": message, "metadata": dict(metadata)}
        timeout = aiohttp.ClientTimeout(total=self.turn_timeout_s)
        try:
            async with self.session.post(
                f"{self.url}/webhooks/rest/webhook", json=body, timeout=timeout
            ) as resp:
                if resp.status != 200:
                    raise RasaUnavailable(f"HTTP {resp.status} from {self.url}")
                data = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as e:
            raise RasaUnavailable(f"{type(e).__name__}: {e}".rstrip(": ")) from None
        if not isinstance(data, list):
            raise RasaUnavailable(f"expected a list of messages, got {str(data)[:80]!r}")
        return [m.get("custom", m) if isinstance(m, Mapping) else m for m in data]


class RasaPolicy:
    """`DialoguePolicy` for one call, asking Rasa; falls back to the built-in engine."""

    def __init__(self, engine: RasaEngine, *, clock: Callable[[], datetime] | None = None):
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))
        self.sender = ""
        self.ctx: InterviewContext | None = None
        self.meta: dict[str, Any] = {}
        self.state: dict[str, Any] = {}
        self.fallback: BuiltinPolicy | None = None  # set once Rasa failed on this call
        self.fallback_reason: str | None = None

    @property
    def finished(self) -> bool:
        if self.fallback is not None:
            return self.fallback.finished
        return self.state.get("stage") == "done"

    @property
    def engine_name(self) -> str:
        return "builtin" if self.fallback is not None else "rasa"

    async def start(self, ctx: InterviewContext) -> list[Action]:
        self.ctx = ctx
        self.sender = f"{ctx.call_id}-{secrets.token_hex(4)}"
        self.meta = context_metadata(ctx)
        try:
            return await self._ask("/start_interview", {})
        except RasaUnavailable as e:
            self._fall_back(e)
            assert self.fallback is not None
            return await self.fallback.start(ctx)

    async def on_utterance(self, utterance: Utterance) -> list[Action]:
        if self.fallback is not None:
            return self.fallback.utterance(utterance)
        if self.finished:
            return []
        text = " ".join(utterance.text.split())
        # Rasa reads "/intent" as an intent: a candidate's words must not start with "/"
        message = text.lstrip("/") if any(c.isalnum() for c in text) else "/unclear"
        try:
            return await self._ask(message, {"text": text}, utterance.confidence)
        except RasaUnavailable as e:
            self._fall_back(e)
            assert self.fallback is not None
            return self.fallback.utterance(utterance)

    async def on_event(self, event: PolicyEvent) -> list[Action]:
        if self.fallback is not None:
            return self.fallback.event(event)
        if self.finished:
            return []
        match event:
            case Silence(count=count):
                message, extra = "/silence", {"event": {"count": count}}
            case KeyPress(digit=digit):
                message, extra = "/keypress", {"event": {"digit": digit}}
            case _:
                return []
        try:
            return await self._ask(message, extra)
        except RasaUnavailable as e:
            self._fall_back(e)
            assert self.fallback is not None
            return self.fallback.event(event)

    async def close(self) -> None:
        return None

    async def _ask(
        self, message: str, extra: Mapping[str, Any], confidence: float | None = None
    ) -> list[Action]:
        metadata = {
            "voicebot": self.meta,
            "call_id": self.meta["call_id"],
            "question_id": self._question_id(),
            "now": self.clock().isoformat(),
            **extra,
        }
        replies = await self.engine.send(self.sender, message, metadata)
        states = [m["state"] for m in replies if isinstance(m, Mapping) and "state" in m]
        if not states or not isinstance(states[-1], Mapping):
            raise RasaUnavailable(f"reply without the conversation state: {str(replies)[:120]}")
        try:
            actions = to_actions(replies, confidence)
        except MalformedReply as e:
            raise RasaUnavailable(str(e)) from None
        self.state = dict(states[-1])
        return actions

    def _question_id(self) -> str | None:
        """The question the candidate is answering (None before the questions start)."""
        questions = self.meta.get("questions") or []
        index = int(self.state.get("question_index") or 0)
        if self.state.get("stage") != "questions" or index >= len(questions):
            return None
        return str(questions[index]["id"])

    def _fall_back(self, error: Exception) -> None:
        """Hand the call to the built-in engine, from the last state Rasa reported."""
        assert self.ctx is not None
        self.fallback_reason = str(error)
        log.warning(
            "Rasa failed on call %s (%s); the built-in engine continues the call",
            redact(self.ctx.call_id),
            error,
        )
        engine = self.engine.fallback if self.engine.fallback is not None else default_engine()
        self.fallback = engine.policy(self.clock)
        if self.state:
            self.fallback.resume(self.ctx, self.state, self.meta)


# --- the processes ------------------------------------------------------------------------------


class RasaServer:
    """The Rasa server and the action server on 127.0.0.1, started and stopped together."""

    def __init__(
        self,
        *,
        venv: str | Path = REPO / ".venv-rasa",
        project: str | Path = RASA_PROJECT,
        model: str | Path | None = None,
        port: int = 5005,
        action_port: int = 5055,
        start_timeout_s: float = 120.0,
    ) -> None:
        self.venv = Path(venv) if Path(venv).is_absolute() else REPO / venv
        self.project = Path(project) if Path(project).is_absolute() else REPO / project
        self.model = Path(model) if model else self.project / "models" / "voicebot.tar.gz"
        self.port = port
        self.action_port = action_port
        self.start_timeout_s = start_timeout_s
        self.url = f"http://127.0.0.1:{port}"
        self._procs: list[asyncio.subprocess.Process] = []
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.logs: list[Path] = []

    def check(self) -> None:
        """Raise FileNotFoundError naming what is missing (venv, model) and how to get it."""
        rasa = self.venv / "bin" / "rasa"
        if not rasa.exists():
            raise FileNotFoundError(f"{rasa} not found: run scripts/setup_rasa.sh")
        if not self.model.exists():
            raise FileNotFoundError(f"{self.model} not found: run scripts/setup_rasa.sh to train")

    async def __aenter__(self) -> RasaServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        self.check()
        self._tmp = tempfile.TemporaryDirectory(prefix="voicebot-rasa-")
        tmp = Path(self._tmp.name)
        endpoints = tmp / "endpoints.yml"
        endpoints.write_text(
            f'action_endpoint:\n  url: "http://127.0.0.1:{self.action_port}/webhook"\n'
        )
        env = {**os.environ, "SANIC_HOST": "127.0.0.1", "PYTHONPATH": str(REPO)}
        env.pop("VIRTUAL_ENV", None)
        await self._spawn(
            "actions",
            [sys.executable, "-m", "rasa_sdk", "--actions", "voicebot.dialogue.actions",
             "--port", str(self.action_port)],
            env,
        )  # fmt: skip
        rasa_env = {**env, "SQLALCHEMY_SILENCE_UBER_WARNING": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
        rasa_env.pop("PYTHONPATH", None)
        await self._spawn(
            "rasa",
            [str(self.venv / "bin" / "rasa"), "run", "--enable-api", "-i", "127.0.0.1",
             "-p", str(self.port), "-m", str(self.model), "--endpoints", str(endpoints),
             "--credentials", str(self.project / "credentials.yml")],
            rasa_env,
        )  # fmt: skip
        started = asyncio.get_running_loop().time()
        try:
            await self._wait_ready()
            took = asyncio.get_running_loop().time() - started
            log.info("Rasa server ready on %s, actions on port %d (%.0f s)", self.url,
                     self.action_port, took)  # fmt: skip
        except BaseException:
            await self.stop()
            raise

    async def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        assert self._tmp is not None
        logfile = Path(self._tmp.name) / f"{name}.log"
        self.logs.append(logfile)
        with logfile.open("wb") as out:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=self.project, env=env, stdout=out, stderr=asyncio.subprocess.STDOUT
            )
        self._procs.append(proc)
        if len(self._procs) == 1:
            atexit.register(self._terminate_at_exit)

    def _terminate_at_exit(self) -> None:
        """A caller that never stopped the server (a crashed demo) leaves no processes behind."""
        for proc in self._procs:
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, 15)

    async def _wait_ready(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.start_timeout_s
        checks = {
            f"http://127.0.0.1:{self.action_port}/health": False,
            f"{self.url}/status": False,
        }
        async with aiohttp.ClientSession() as session:
            while not all(checks.values()):
                for proc in self._procs:
                    if proc.returncode is not None:
                        raise RuntimeError(f"a Rasa process exited: {self._tail()}")
                if loop.time() > deadline:
                    raise TimeoutError(f"Rasa not ready in {self.start_timeout_s:.0f} s")
                for url, ok in checks.items():
                    if ok:
                        continue
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        async with session.get(url, timeout=aiohttp.ClientTimeout(2)) as r:
                            body = await r.json(content_type=None) if r.status == 200 else None
                            checks[url] = r.status == 200 and (
                                "status" not in url or bool((body or {}).get("model_file"))
                            )
                await asyncio.sleep(0.5)

    def _tail(self) -> str:
        return " | ".join(
            p.read_text(errors="replace")[-400:].replace("\n", " ") for p in self.logs if p.exists()
        )

    async def stop(self) -> None:
        for proc in self._procs:
            if proc.returncode is None:
                proc.terminate()
        for proc in self._procs:
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self._procs.clear()
        atexit.unregister(self._terminate_at_exit)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
