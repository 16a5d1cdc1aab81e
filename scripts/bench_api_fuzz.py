"""schemathesis against a real `voicebot api` on loopback, large: `--examples` schema-valid
and as many schema-violating requests per operation (CI runs 10 in
tests/robustness/test_api_fuzz.py). Prints requests, 5xx and undocumented statuses; writes
var/bench/api_fuzz.json; exits 1 on any 5xx or undocumented status."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.robustness.api_fuzz import fuzz_api, served_api  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--examples", type=int, default=200, help="per operation and mode")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=REPO / "var" / "bench" / "api_fuzz.json")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, served_api(Path(tmp)) as (base, token):
        report = fuzz_api(base, token, examples=args.examples, seed=args.seed)
    print(report.line())
    for where in report.undocumented:
        print(f"    undocumented: {where}")
    for example in report.examples:
        print(f"    5xx e.g. {example}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {"examples": args.examples, "seed": args.seed}
            | dataclasses.asdict(report)
            | {"statuses": dict(report.statuses)},
            indent=2,
        )
    )
    print(f"written to {args.out}")
    sys.exit(1 if report.server_errors or report.undocumented else 0)


if __name__ == "__main__":
    main()
