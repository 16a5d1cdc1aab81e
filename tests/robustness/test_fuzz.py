"""The fuzz suite at CI size: seeded, bounded, loopback only. `scripts/fuzz.py --n 100000`
runs the same targets large. Each must show no traceback, a server that still answers, and
an answer for every request that deserves one (issue 16, "What must hold")."""

from __future__ import annotations

import pytest

from tests.robustness.harness import (
    FuzzReport,
    deserves_response,
    fuzz_audiosocket,
    fuzz_parsers,
    fuzz_rtp,
    fuzz_sip_endpoint,
)

pytestmark = pytest.mark.timeout(120)
SEEDS = (1, 2)


def check(report: FuzzReport, n: int) -> None:
    print("\n" + report.line())
    assert report.inputs >= n
    assert report.tracebacks == 0, report.examples
    assert report.alive
    assert report.answered == report.deserving, report.examples


@pytest.mark.parametrize("seed", SEEDS)
async def test_parsers_raise_only_their_own_errors(seed: int) -> None:
    check(await fuzz_parsers(2000, seed), 2000)


@pytest.mark.parametrize("seed", SEEDS)
async def test_the_sip_endpoint_answers_every_request_that_deserves_it(seed: int) -> None:
    report = await fuzz_sip_endpoint(400, seed)
    assert report.deserving >= 100  # the generator keeps most requests answerable
    check(report, 400)


@pytest.mark.parametrize("seed", SEEDS)
async def test_rtp_into_a_live_call(seed: int) -> None:
    check(await fuzz_rtp(3000, seed), 3000)


async def test_every_audiosocket_connection_is_ended() -> None:
    check(await fuzz_audiosocket(60, 1), 60)


def test_what_deserves_a_response() -> None:
    good = b"OPTIONS sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKm1\r\nCall-ID: m1\r\n\r\n"
    assert deserves_response(good, b"m1")
    assert not deserves_response(good.replace(b"OPTIONS", b"ACK", 1), b"m1")
    assert not deserves_response(good.replace(b"Via", b"Xia"), b"m1")
    assert not deserves_response(good, b"m2")  # the Call-ID was mangled
    assert not deserves_response(b"SIP/2.0 200 OK\r\nVia: x\r\nCall-ID: m1\r\n\r\n", b"m1")
