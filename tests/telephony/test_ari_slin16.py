"""Issue 13, item 4: `ari.format = "slin16"` gave the candidate silence on Asterisk 22
(its UnicastRTP channel drops payload type 118), so the config refuses it with the reason;
and slin16 RTP from voicebot advances its timestamp 320 per 20 ms (16 kHz), not 160."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from voicebot.config import AriConfig, ConfigError, load_config
from voicebot.media.rtp import parse_rtp
from voicebot.telephony.ari import AriBridge, AriCall
from voicebot.telephony.base import Direction


def test_slin16_is_refused_at_config_time_with_the_reason(tmp_path: Path) -> None:
    toml = tmp_path / "v.toml"
    toml.write_text('[ari]\nformat = "slin16"\n')
    with pytest.raises(ConfigError) as refused:
        load_config(toml, env={})
    why = str(refused.value)
    assert why.startswith("ari.format:") and "118" in why and "silence" in why
    toml.write_text('[ari]\nformat = "ulaw"\n')
    assert load_config(toml, env={}).ari.format == "ulaw"


class Wire:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendto(self, data: bytes, addr: Any) -> None:
        self.sent.append(data)


@pytest.mark.parametrize(("fmt", "step", "size"), [("ulaw", 160, 160), ("slin16", 320, 640)])
async def test_the_rtp_clock_runs_at_the_wire_rate(fmt: str, step: int, size: int) -> None:
    call = AriCall(AriBridge(AriConfig(format=fmt)), "c1", Direction.INBOUND, "caller")  # type: ignore[arg-type]
    wire = Wire()
    call._rtp = wire  # type: ignore[assignment]
    call.set_rtp_remote("127.0.0.1", 9)
    for _ in range(3):
        call.send_wire(b"\0" * 320)  # one 20 ms frame of 8 kHz PCM16 from the session
    packets = [parse_rtp(p) for p in wire.sent]
    assert [len(p.payload) for p in packets] == [size] * 3
    assert [b.timestamp - a.timestamp for a, b in itertools.pairwise(packets)] == [step, step]
