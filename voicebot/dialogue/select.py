"""Engine selection from the command line (`voicebot demo --policy rasa`), kept out of cli.py."""

from __future__ import annotations

from dataclasses import replace

from voicebot.config import Config, ConfigError

ENGINES = ("builtin", "rasa")


def with_engine(cfg: Config, engine: str) -> Config:
    """`cfg` with `dialogue.engine` overridden; an unknown name is a ConfigError naming it."""
    if engine not in ENGINES:
        raise ConfigError(f"--policy: {engine!r} is not one of {', '.join(ENGINES)}")
    return replace(cfg, dialogue=replace(cfg.dialogue, engine=engine))
