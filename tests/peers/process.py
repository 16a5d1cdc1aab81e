"""A softphone child process whose output is logged and searchable while it runs."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import re
import signal
from collections.abc import Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the test process dies, even if it never cleans up."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class PeerError(RuntimeError):
    """A test peer failed to start, answer a command or reach a state in time."""


class PeerProcess:
    """One child process; every output line is kept in memory and appended to `log_path`."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        stdin: bool = False,
    ) -> None:
        self.argv = list(argv)
        self.log_path = log_path
        self.cwd = cwd
        self.env = env
        self.lines: list[str] = []
        self._want_stdin = stdin
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            *self.argv,
            stdin=asyncio.subprocess.PIPE if self._want_stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=self.cwd,
            env=self.env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self._reader = asyncio.create_task(self._read(self._proc.stdout))

    async def _read(self, stream: asyncio.StreamReader | None) -> None:
        assert stream is not None
        with self.log_path.open("a", encoding="utf-8") as log:
            while raw := await stream.readline():
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                line = re.sub(r"\x1b\[[0-9;]*m", "", line)
                log.write(line + "\n")
                log.flush()
                async with self._changed:
                    self.lines.append(line)
                    self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    async def write_line(self, text: str) -> None:
        if self._proc is None or self._proc.stdin is None:
            raise PeerError(f"{self.argv[0]}: no stdin to write {text!r} to")
        self._proc.stdin.write(text.encode() + b"\n")
        await self._proc.stdin.drain()

    async def wait_line(
        self, pattern: str | re.Pattern[str], *, timeout: float, start: int = 0
    ) -> tuple[int, re.Match[str]]:
        """The index and match of the first line at or after `start` matching `pattern`."""
        regex = re.compile(pattern)
        index = start
        try:
            async with asyncio.timeout(timeout):
                async with self._changed:
                    while True:
                        for i in range(index, len(self.lines)):
                            if found := regex.search(self.lines[i]):
                                return i, found
                        index = len(self.lines)
                        if not self.running and (self._reader is None or self._reader.done()):
                            raise PeerError(
                                f"{self.argv[0]} exited ({self.returncode}) before "
                                f"{regex.pattern!r}; tail:\n{self.tail()}"
                            )
                        await self._changed.wait()
        except TimeoutError:
            raise PeerError(
                f"{self.argv[0]}: no line matching {regex.pattern!r} within {timeout}s; "
                f"tail:\n{self.tail()}"
            ) from None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    def tail(self, lines: int = 25) -> str:
        return "\n".join(self.lines[-lines:])

    async def stop(self, *, grace: float = 3.0) -> None:
        """SIGTERM, then SIGKILL the whole process group after `grace` seconds."""
        proc = self._proc
        if proc is None:
            return
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), grace)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await asyncio.wait_for(proc.wait(), grace)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        if self._reader is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._reader, grace)
