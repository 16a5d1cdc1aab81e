"""The `voicebot` command as an operator runs it: help, one-line errors with exit code 2, and
the doctor's verdicts."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from voicebot.cli import app

EXAMPLE_JOB = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "backend-engineer.yaml"
CHECKS = 10  # config, piper voice, asr model, rasa project, five tools, sip port


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's own VOICEBOT_* variables must not change what these tests see."""
    for var in [v for v in os.environ if v.startswith("VOICEBOT_")]:
        monkeypatch.delenv(var)


@pytest.fixture
def free_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    yield port


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(app, [str(a) for a in args], prog_name="voicebot")


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def one_error_line(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert result.stdout == ""
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return lines[0]


def test_help_lists_every_command() -> None:
    result = run("--help")

    assert result.exit_code == 0
    for command in ("serve", "call", "demo", "doctor"):
        assert re.search(rf"^\W*{command}\s", result.stdout, re.MULTILINE), result.stdout


@pytest.mark.parametrize("command", ["serve", "call", "demo", "doctor"])
def test_each_command_has_help(command: str) -> None:
    result = run(command, "--help")

    assert result.exit_code == 0
    assert "--config" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("call", "sip:alice@127.0.0.1", "--job", EXAMPLE_JOB),
        ("serve", "--job", EXAMPLE_JOB),
        ("demo",),
    ],
)
def test_a_bad_config_file_exits_2_with_one_line_naming_the_key(
    tmp_path: Path, args: tuple
) -> None:
    config = write(tmp_path, "voicebot.toml", '[sip]\nlisten_port = "abc"\n')

    result = run(*args, "--config", config)

    assert result.exit_code == 2
    line = one_error_line(result)
    assert line.startswith("voicebot: sip.listen_port: expected an integer, got 'abc'")
    assert str(config) in line


def test_the_config_file_can_come_from_voicebot_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VOICEBOT_CONFIG", str(write(tmp_path, "v.toml", "[sip]\nbogus = 1\n")))

    result = run("call", "sip:alice@127.0.0.1", "--job", EXAMPLE_JOB)

    assert result.exit_code == 2
    assert one_error_line(result).startswith("voicebot: sip.bogus: unknown key")


def test_a_bad_environment_override_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VOICEBOT_SIP__LISTEN_PORT", "five")

    result = run("call", "sip:alice@127.0.0.1", "--job", EXAMPLE_JOB)

    assert result.exit_code == 2
    assert "VOICEBOT_SIP__LISTEN_PORT" in one_error_line(result)


def test_a_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = run("call", "sip:alice@127.0.0.1", "--job", EXAMPLE_JOB, "-c", tmp_path / "no.toml")

    assert result.exit_code == 2
    assert "does not exist" in one_error_line(result)


BROKEN_JOB = """\
id: broken
title: Backend Engineer
company: Acme Corp
questions:
  - id: salary
    text: What are your salary expectations?
  - id: notice
"""


@pytest.mark.parametrize("command", ["call", "serve"])
def test_a_job_file_with_an_error_exits_2_naming_the_field(tmp_path: Path, command: str) -> None:
    job = write(tmp_path, "broken.yaml", BROKEN_JOB)
    args = ("call", "sip:alice@127.0.0.1") if command == "call" else ("serve",)

    result = run(*args, "--job", job)

    assert result.exit_code == 2
    assert one_error_line(result) == f"voicebot: {job}:7: questions[1].text: required"


def test_a_missing_job_file_exits_2(tmp_path: Path) -> None:
    job = tmp_path / "nope.yaml"

    result = run("call", "sip:alice@127.0.0.1", "--job", job)

    assert result.exit_code == 2
    assert one_error_line(result) == f"voicebot: {job}: file does not exist"


def doctor_lines(result: Result) -> dict[str, tuple[bool, str]]:
    verdicts = {}
    for line in result.stdout.splitlines():
        verdict, name_and_detail = line[:4], line[5:]
        assert verdict in ("ok  ", "FAIL"), line
        name, detail = name_and_detail[:22].strip(), name_and_detail[22:].strip()
        verdicts[name] = (verdict == "ok  ", detail)
    return verdicts


def test_doctor_prints_one_verdict_per_check(tmp_path: Path, free_port: int) -> None:
    config = write(tmp_path, "v.toml", f"[sip]\nlisten_port = {free_port}\n")

    result = run("doctor", "--config", config)

    verdicts = doctor_lines(result)
    assert len(result.stdout.splitlines()) == CHECKS
    assert set(verdicts) == {
        "config",
        "piper voice",
        "whisper model",
        "rasa project",
        "tool kamailio",
        "tool baresip",
        "tool linphonec",
        "tool espeak-ng",
        "tool sox",
        f"sip port {free_port}/udp",
    }
    assert verdicts["config"] == (True, "valid")
    assert verdicts[f"sip port {free_port}/udp"] == (True, f"127.0.0.1:{free_port} is free")
    assert verdicts["tool espeak-ng"][0]  # the speech tests need it, so it is here
    everything_ok = all(ok for ok, _ in verdicts.values())
    assert result.exit_code == (0 if everything_ok else 1)


def test_doctor_fails_a_missing_model_and_a_busy_port(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        config = write(
            tmp_path,
            "v.toml",
            f'[sip]\nlisten_port = {port}\n[speech]\nwhisper_model = "{tmp_path / "nowhere"}"\n',
        )

        result = run("doctor", "--config", config)

    assert result.exit_code == 1
    verdicts = doctor_lines(result)
    ok, detail = verdicts["whisper model"]
    assert not ok and str(tmp_path / "nowhere") in detail
    ok, detail = verdicts[f"sip port {port}/udp"]
    assert not ok and f"cannot bind 127.0.0.1:{port}" in detail


def test_doctor_checks_the_vosk_model_when_vosk_is_configured(tmp_path: Path) -> None:
    config = write(tmp_path, "v.toml", f'[speech]\nasr = "vosk"\nvosk_model = "{tmp_path}"\n')

    verdicts = doctor_lines(run("doctor", "--config", config))

    assert "whisper model" not in verdicts
    ok, detail = verdicts["vosk model"]
    assert not ok and "am/final.mdl" in detail


def test_doctor_reports_a_bad_config_as_a_verdict_and_keeps_checking(tmp_path: Path) -> None:
    config = write(tmp_path, "v.toml", '[speech]\nasr = "foo"\n')

    result = run("doctor", "--config", config)

    assert result.exit_code == 1
    verdicts = doctor_lines(result)
    ok, detail = verdicts["config"]
    assert not ok and detail.startswith("speech.asr: 'foo' is not one of")
    assert len(verdicts) == CHECKS
