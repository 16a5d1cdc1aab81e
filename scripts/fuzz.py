"""The fuzz suite at full size: `scripts/fuzz.py --n 100000` (the CI tests run it small).

Each target (SIP/SDP/RTP parsers, a live SIP endpoint, RTP into a live call, the AudioSocket
server, import files, the ARI event socket, FastAGI, AMI and ESL) runs in its own child
process, so a crash is counted as a process death rather than taking the run down. Prints,
per target, inputs tried, process deaths, tracebacks and the share of requests that deserve
a response that got one; writes the same as JSON to var/bench/fuzz.json (a target not run
keeps its figures from the last run). Loopback only; seeded, so a run is repeatable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# how many inputs one --n is worth per target (a connection costs more than a datagram)
SCALE = {"parsers": 1.0, "sip": 1.0, "rtp": 1.0, "audiosocket": 0.02, "documents": 0.01,
         "ari": 0.2, "agi": 0.02, "ami": 0.02, "esl": 0.02}  # fmt: skip


def child(target: str, n: int, seed: int) -> None:
    from tests.robustness.documents import fuzz_documents
    from tests.robustness.harness import TARGETS
    from tests.robustness.pbx_harness import PBX_TARGETS

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    targets = {**TARGETS, "documents": fuzz_documents, **PBX_TARGETS}
    report = asyncio.run(targets[target](n, seed))  # type: ignore[operator]
    print(json.dumps(dataclasses.asdict(report) | {"answered_pct": report.answered_pct}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=10000, help="inputs per target (scaled per kind)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--targets", default="parsers,sip,rtp,audiosocket,documents,ari,agi,ami,esl")
    ap.add_argument("--out", type=Path, default=REPO / "var" / "bench" / "fuzz.json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.n, args.seed)
        return
    results = []
    started = time.time()
    for target in args.targets.split(","):
        n = max(10, int(args.n * SCALE[target]))
        proc = subprocess.run(
            [sys.executable, __file__, "--child", target, "--n", str(n), "--seed", str(args.seed)],
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        died = proc.returncode != 0
        lines = proc.stdout.strip().splitlines()
        report = json.loads(lines[-1]) if not died and lines else {"target": target}
        report.update(process_deaths=int(died), returncode=proc.returncode, n=n, seed=args.seed)
        if died:
            report["stderr_tail"] = proc.stderr[-2000:]
        results.append(report)
        print(
            f"{target:<12} inputs {report.get('inputs', 0):>7}  deaths {int(died)}  "
            f"tracebacks {report.get('tracebacks', '?')}  answered "
            f"{report.get('answered', 0)}/{report.get('deserving', 0)} "
            f"({report.get('answered_pct', 0.0):.1f} %)  alive {report.get('alive', False)}  "
            f"{report.get('seconds', 0.0):.1f} s"
            + (
                f"  reconnects {report['reconnects']}  warnings {report['warnings']}  "
                f"task deaths {report['task_deaths']}"
                if "task_deaths" in report
                else ""
            ),
            flush=True,
        )
        for example in report.get("examples", [])[:3]:
            print(f"    e.g. {example}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    ran = {r["target"] for r in results}
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        kept = json.loads(args.out.read_text())["targets"]
        results = [r for r in kept if r.get("target") not in ran] + results
    args.out.write_text(
        json.dumps({"n": args.n, "seed": args.seed, "at": started, "targets": results}, indent=2)
    )
    print(f"written to {args.out}")
    if any(r["process_deaths"] or r.get("tracebacks") or r.get("task_deaths") for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
