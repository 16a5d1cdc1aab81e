"""The store under faults (issue 16 items 1, 6, 7): a reused call id, rows a crash left open,
and a file that is read-only or not a database at all."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from voicebot.store import Store, StoreError, TurnRecord

REPO = Path(__file__).resolve().parents[2]
VOICEBOT = [sys.executable, "-m", "voicebot.cli"]


async def start(store: Store, call_id: str) -> str:
    return await store.call_started(
        call_id, direction="inbound", bridge="sip", remote="sip:alice@x", started_at=1000.0
    )


# a reused call id --------------------------------------------------------------------------


async def test_a_reused_call_id_gets_its_own_row(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "v.db") as store:
        first = await start(store, "same@peer")
        second = await start(store, "same@peer")
        assert first == "same@peer"
        assert second != first and second.startswith("same@peer")
        await store.add_turn(TurnRecord(first, 1, "bot", "greeting", "one", 1.0, 2.0))
        await store.add_turn(TurnRecord(second, 1, "bot", "greeting", "two", 1.0, 2.0))
        await store.call_ended(second, at=2000.0, outcome="completed")
        assert [t.text for t in await store.turns(first)] == ["one"]
        assert [t.text for t in await store.turns(second)] == ["two"]
        assert (await store.get_call(first))["ended_at"] is None  # type: ignore[index]
        assert (await store.get_call(second))["outcome"] == "completed"  # type: ignore[index]


async def test_other_integrity_errors_are_not_renamed_away(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "v.db") as store:
        with pytest.raises(StoreError) as refused:
            await store.call_started(
                "x", direction="sideways", bridge="sip", remote="r", started_at=1.0
            )
        assert isinstance(refused.value.__cause__, sqlite3.IntegrityError)


# a crash restart ---------------------------------------------------------------------------

_CRASHING = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from voicebot.store import Store

    async def main() -> None:
        store = await Store.open(sys.argv[1])
        await store.call_started(
            "cut@crash", direction="outbound", bridge="sip", remote="r", started_at=1.0
        )
        os.kill(os.getpid(), signal.SIGKILL)

    asyncio.run(main())
    """
)


async def test_rows_a_killed_process_left_open_are_closed_as_interrupted(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    async with await Store.open(db) as store:
        mine = await start(store, "live@here")  # this process is alive: its call is live
    crash = [sys.executable, "-c", _CRASHING, str(db)]
    proc = await asyncio.to_thread(subprocess.run, crash, cwd=REPO, timeout=60)
    assert proc.returncode == -signal.SIGKILL
    async with await Store.open(db) as store:
        cut = await store.get_call("cut@crash")
        assert cut is not None and cut["outcome"] == "interrupted"
        assert cut["ended_at"] is not None
        live = await store.get_call(mine)
        assert live is not None and live["ended_at"] is None and live["outcome"] is None


# a file the store cannot use ---------------------------------------------------------------


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A folder of its own for the database and the files SQLite puts beside it."""
    path = Path(tempfile.mkdtemp(prefix="voicebot-store-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def run_cli(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VOICEBOT_STORE__PATH": str(db), "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [*VOICEBOT, *args],
        cwd=db.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # the bug: the aiosqlite thread kept the process alive forever
    )


def test_a_file_that_is_not_a_database_is_one_line_and_exit_2(shared_dir: Path) -> None:
    db = shared_dir / "voicebot.db"
    db.write_bytes(b"this is not SQLite\n" * 100)
    proc = run_cli(db, "jobs", "list")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"voicebot: store {db}: file is not a database"


async def test_store_open_raises_store_error_and_leaves_no_thread(shared_dir: Path) -> None:
    db = shared_dir / "voicebot.db"
    db.write_bytes(b"\x00garbage" * 512)
    with pytest.raises(StoreError, match="file is not a database"):
        await Store.open(db)
    workers = [t for t in threading.enumerate() if _is_aiosqlite_worker(t)]
    for worker in workers:
        worker.join(2)
    assert not [t for t in workers if t.is_alive()], "the connection's thread outlived the error"


def _is_aiosqlite_worker(thread: threading.Thread) -> bool:
    target = getattr(thread, "_target", None)
    return getattr(target, "__name__", "") == "_connection_worker_thread"


def test_a_read_only_database_is_one_line_and_exit_2(shared_dir: Path) -> None:
    db = shared_dir / "voicebot.db"
    proc = run_cli(db, "jobs", "list")  # creates and migrates it
    assert proc.returncode == 0, proc.stderr
    # immutable: even root cannot write it (file modes do not stop root, which CI runs as)
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available on this file system")
    try:
        proc = run_cli(db, "jobs", "list")
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == f"voicebot: store {db}: attempt to write a readonly database"


def test_serve_refuses_to_start_on_a_bad_store(shared_dir: Path) -> None:
    db = shared_dir / "voicebot.db"
    db.write_bytes(b"not a database" * 64)
    job = REPO / "examples" / "jobs" / "backend-engineer.yaml"
    proc = run_cli(db, "serve", "--job", str(job))
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == f"voicebot: store {db}: file is not a database"
