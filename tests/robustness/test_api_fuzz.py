"""schemathesis against a real `voicebot api` on loopback, at CI size (issue 16: zero 5xx and
zero undocumented statuses). `scripts/bench_api_fuzz.py --examples 200` runs it large."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.robustness.api_fuzz import fuzz_api, served_api

pytestmark = pytest.mark.timeout(300)


def test_schemathesis_finds_no_server_error_and_no_undocumented_status(tmp_path: Path) -> None:
    with served_api(tmp_path) as (base, token):
        report = fuzz_api(base, token, examples=10, seed=1)
    print(report.line())
    assert report.operations >= 14 and report.requests >= 200
    assert report.server_errors == 0, report.examples
    assert report.undocumented == []
