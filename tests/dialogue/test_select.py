"""Choosing the engine: config, environment and `--policy`; mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot.config import ConfigError, load_config
from voicebot.dialogue.select import doctor_checks, with_engine


def test_builtin_is_the_default_and_policy_overrides_it() -> None:
    cfg = load_config(None, env={})
    assert cfg.dialogue.engine == "builtin"
    assert with_engine(cfg, "rasa").dialogue.engine == "rasa"


def test_an_unknown_engine_is_named() -> None:
    with pytest.raises(ConfigError, match="--policy: 'tensorflow' is not one of builtin, rasa"):
        with_engine(load_config(None, env={}), "tensorflow")


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("TIMEZONE", "Mars/Olympus", "dialogue.timezone: unknown time zone 'Mars/Olympus'"),
        ("RASA_URL", "localhost:5005", "dialogue.rasa_url: 'localhost:5005' is not an http"),
        ("ACTION_PORT", "5005", "dialogue.action_port: must differ from rasa_port"),
        ("ENGINE", "gpt", "dialogue.engine"),
    ],
)
def test_bad_dialogue_settings_are_named(key: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, env={f"VOICEBOT_DIALOGUE__{key}": value})


def test_doctor_names_a_missing_rasa_venv(tmp_path: Path) -> None:
    env = {"VOICEBOT_DIALOGUE__ENGINE": "rasa", "VOICEBOT_DIALOGUE__RASA_VENV": str(tmp_path)}
    checks = {name: (ok, detail) for name, ok, detail in doctor_checks(load_config(None, env=env))}

    assert checks["rasa project"][0]
    ok, detail = checks["rasa server"]
    assert not ok and "scripts/setup_rasa.sh" in detail and str(tmp_path) in detail
