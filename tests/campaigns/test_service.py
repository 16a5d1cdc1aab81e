"""A real campaign dials over the bridge the config names, not a hard-wired one."""

from dataclasses import replace
from pathlib import Path

import pytest

from voicebot.campaigns.service import open_calling
from voicebot.config import Config
from voicebot.store import Store


@pytest.mark.models
async def test_campaigns_dial_over_the_configured_bridge(tmp_path: Path) -> None:
    base = Config()
    cfg = replace(
        base,
        bridge="sip",
        sip=replace(base.sip, listen_port=0, registrar=""),
        speech=replace(base.speech, cache_dir=str(tmp_path / "tts")),
    )
    store = await Store.open(tmp_path / "voicebot.db")
    try:
        async with open_calling(cfg, store, None) as (bridge, interviewer, scorer):
            assert bridge.name == "sip"
            assert callable(bridge.dial)
            assert interviewer.store is store
            assert scorer.keywords == {
                "compliance": "none",
                "feedback_scores": False,
                "rater": None,  # [scoring] llm_url unset: the built-in rater only
            }
    finally:
        await store.close()
