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


def doctor_checks(cfg: Config) -> list[tuple[str, bool, str]]:
    """`voicebot doctor` verdicts for the dialogue engine: the Rasa project always (both
    engines read it), the Rasa venv and model when the engine is rasa and voicebot starts it."""
    from voicebot.dialogue.builtin import BuiltinEngine, ProjectError
    from voicebot.dialogue.rasa import RasaServer

    d = cfg.dialogue
    checks: list[tuple[str, bool, str]] = []
    try:
        engine = BuiltinEngine()
        intents = len(engine.classifier.intents)
        checks.append(("rasa project", True, f"{intents} intents trained (built-in engine)"))
    except ProjectError as e:
        checks.append(("rasa project", False, str(e)))
    if d.engine == "rasa" and not d.rasa_url:
        server = RasaServer(venv=d.rasa_venv, project=d.rasa_project)
        try:
            server.check()
            checks.append(("rasa server", True, f"{server.model}"))
        except FileNotFoundError as e:
            checks.append(("rasa server", False, str(e)))
    return checks
