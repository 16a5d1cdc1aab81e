"""Seeded generators of hostile import files and API bodies: job YAML/JSON and candidate
CSV/JSON mutated the ways issue 16 found (deep nesting, alias bombs, duplicate keys, NaN,
huge cells, non-UTF-8 bytes) plus random byte damage."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path

from tests.robustness.harness import FuzzReport, counting_tracebacks

REPO = Path(__file__).resolve().parents[2]
JOB_YAML = (REPO / "tests" / "hr" / "data" / "job.yaml").read_bytes()
CANDIDATES_CSV = (
    b"phone,name,skills,years_experience\n"
    b"+1 415 555 0100,Ada,Python; Go,9\n"
    b'+1 415 555 0101,"Lovelace, Ada",SQL,3\n'
    b"+1 415 555 0102,Grace,,\n"
)
CANDIDATES_JSON = json.dumps([
    {"phone": "+1 415 555 0100", "name": "Ada", "skills": ["Python"]},
    {"phone": "+1 415 555 0101", "name": "Grace", "years_experience": 3},
]).encode()  # fmt: skip


def _deep(rng: random.Random, data: bytes) -> bytes:
    n = rng.choice([70, 1000, 20_000])
    at = rng.randrange(len(data))
    return data[:at] + b"[" * n + b"]" * n + data[at:]


def _alias_bomb(rng: random.Random, data: bytes) -> bytes:
    lines = [b"a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, rng.randint(3, 9)):
        lines.append(b"a%d: &a%d [" % (i, i) + b", ".join([b"*a%d" % (i - 1)] * 9) + b"]")
    return data + b"\n" + b"\n".join(lines) + b"\n"


def _duplicate_line(rng: random.Random, data: bytes) -> bytes:
    lines = data.split(b"\n")
    i = rng.randrange(len(lines))
    lines.insert(rng.randrange(len(lines) + 1), lines[i])
    return b"\n".join(lines)


def _number(rng: random.Random, data: bytes) -> bytes:
    digits = [i for i, c in enumerate(data) if chr(c).isdigit()]
    if not digits:
        return data
    i = rng.choice(digits)
    value = rng.choice([b"NaN", b".nan", b"-.inf", b"1e400", b"9" * 5000, b"-0", b"1_000"])
    return data[:i] + value + data[i + 1 :]


def _huge_cell(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + b"x" * rng.choice([130_000, 300_000]) + data[at:]


def _not_utf8(rng: random.Random, data: bytes) -> bytes:
    at = rng.randrange(len(data))
    return data[:at] + rng.choice([b"\xe9", b"\xff\xfe", b"\xc3", b"\xed\xa0\x80"]) + data[at:]


def _flip(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        out[rng.randrange(len(out))] = rng.randrange(256)
    return bytes(out)


def _truncate(rng: random.Random, data: bytes) -> bytes:
    return data[: rng.randrange(len(data))]


def _junk(rng: random.Random, data: bytes) -> bytes:
    junk = rng.choice([b"\x00", b"&x *y", b"!!python/object:os.system", b"\\ud800", b'"', b"\t",
                       b"? [a]\n: b", b"<<: *nowhere", b"{", b"]]", b"---\n---\n"])  # fmt: skip
    at = rng.randrange(len(data) + 1)
    return data[:at] + junk + data[at:]


MUTATIONS: list[Callable[[random.Random, bytes], bytes]] = [
    _deep, _alias_bomb, _duplicate_line, _number, _huge_cell, _not_utf8, _flip, _truncate, _junk,
]  # fmt: skip
SEEDS = {".yaml": JOB_YAML, ".csv": CANDIDATES_CSV, ".json": CANDIDATES_JSON}


def documents(rng: random.Random, n: int) -> Iterator[tuple[str, bytes]]:
    """n (suffix, content) pairs: one to three mutations of a good job or candidate file."""
    for _ in range(n):
        suffix = rng.choice(list(SEEDS))
        data = SEEDS[suffix]
        for _ in range(rng.randint(1, 3)):
            data = rng.choice(MUTATIONS)(rng, data) or data
        yield suffix, data


async def fuzz_documents(n: int, seed: int) -> FuzzReport:
    """n hostile files through the importers: each must import or be refused with the
    importer's own one-line error; anything else is counted as a traceback."""
    import tempfile

    from voicebot.hr.importer import CandidateFileError, import_candidates, import_jobs
    from voicebot.interview.plan import JobError
    from voicebot.store import Store

    report = FuzzReport("documents")
    with tempfile.TemporaryDirectory() as tmp, counting_tracebacks(report):
        async with await Store.open(Path(tmp) / "voicebot.db") as store:
            await import_jobs(store, REPO / "tests" / "hr" / "data" / "job.yaml")
            for i, (suffix, data) in enumerate(documents(random.Random(seed), n)):
                path = Path(tmp) / f"f{i % 50}{suffix}"
                path.write_bytes(data)
                report.inputs += 1
                report.deserving += 1
                try:
                    if suffix == ".yaml":
                        await import_jobs(store, path)
                    else:
                        await import_candidates(store, path, "test-backend")
                    report.answered += 1
                except (JobError, CandidateFileError) as e:
                    report.answered += "\n" not in str(e)
                except Exception as e:  # what the fuzz run is looking for
                    report.tracebacks += 1
                    if len(report.examples) < 5:
                        report.examples.append(f"{type(e).__name__}: {e}"[:300])
    return report
