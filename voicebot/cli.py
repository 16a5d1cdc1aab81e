"""`voicebot …`: serve, call, demo, doctor.

Errors a person can act on (config, job files, SIP failures) become one clear line on stderr
and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import socket
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from voicebot.config import Config, ConfigError, load_config
from voicebot.interview.plan import Job, JobError, load_job
from voicebot.store import cli as store_cli

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="AI phone-screening interviewer."
)
_T = TypeVar("_T")

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="TOML config file (or $VOICEBOT_CONFIG).", show_default=False
    ),
]


def _config(path: Path | None) -> Config:
    env_path = os.environ.get("VOICEBOT_CONFIG")
    cfg = load_config(path or (Path(env_path) if env_path else None))
    from voicebot.logs import configure_logging

    configure_logging(cfg.log_level, cfg.log_format)
    from voicebot import pii

    pii.configure(cfg.pii)  # every store this process opens uses the configured keys
    return cfg


def _run(main: Callable[[], Awaitable[_T]]) -> _T:
    from voicebot.store import StoreError
    from voicebot.telephony.registrar import RegistrarError
    from voicebot.telephony.sip import SipError

    try:
        return asyncio.run(main())
    except (ConfigError, JobError, SipError, RegistrarError, StoreError, FileNotFoundError) as e:
        typer.echo(f"voicebot: {e}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


def _config_and_job(config: Path | None, job: Path) -> tuple[Config, Job]:
    """Both validated before anything starts, so a typo costs one line, not a dropped call."""
    try:
        return _config(config), load_job(job)
    except (ConfigError, JobError) as e:
        _fail(str(e))
        raise  # unreachable: _fail exits


def _fail(message: str) -> None:
    typer.echo(f"voicebot: {message}", err=True)
    raise typer.Exit(2)


@app.command()
def serve(
    job: Annotated[Path, typer.Option("--job", help="Job YAML used for inbound calls.")],
    config: ConfigOpt = None,
    bridge: Annotated[
        str | None,
        typer.Option(help="sip | ari | agi | freeswitch (default: the config's `bridge`)."),
    ] = None,
) -> None:
    """Take calls from the PBX (SIP extension, ARI, AMI+AGI, or FreeSWITCH) and interview them."""
    cfg, job_def = _config_and_job(config, job)
    from voicebot.serve import BRIDGES, serve

    if bridge is not None and bridge not in BRIDGES:
        _fail(f"--bridge: {bridge!r} is not one of {', '.join(BRIDGES)}")

    async def main() -> None:
        def announce(line: str) -> None:
            typer.echo(f"voicebot: {line}", err=True)

        stop = asyncio.Event()
        stop_on_signals(stop)
        await serve(cfg, job_def, bridge_name=bridge or "", announce=announce, stop=stop)

    _run(main)  # a drained shutdown returns: exit 0


def stop_on_signals(stop: asyncio.Event) -> None:
    """SIGTERM (a deploy, systemd, docker stop) and SIGINT set `stop`: `serve` drains live
    calls instead of dying with them; a second signal is the same request again."""
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


asterisk_app = typer.Typer(no_args_is_help=True, help="Asterisk/FreeSWITCH configuration.")
app.add_typer(asterisk_app, name="asterisk")
app.add_typer(store_cli.db_app, name="db")  # migrate, copy to PostgreSQL
app.add_typer(store_cli.rasa_app, name="rasa")  # endpoints.yml (SQL tracker store)


@asterisk_app.command("snippet")
def asterisk_snippet(config: ConfigOpt = None) -> None:
    """Print the Asterisk and FreeSWITCH pieces to add, filled in from voicebot's config."""
    try:
        cfg = _config(config)
    except ConfigError as e:
        _fail(str(e))
    from voicebot.serve import asterisk_snippet as snippet

    typer.echo(snippet(cfg))


kamailio_app = typer.Typer(no_args_is_help=True, help="Kamailio in front of several bots.")
app.add_typer(kamailio_app, name="kamailio")


@kamailio_app.command("snippet")
def kamailio_snippet(
    config: ConfigOpt = None,
    bot: Annotated[
        list[str] | None,
        typer.Option(help="A bot worker, sip:HOST:PORT; repeat it (default: kamailio.bots)."),
    ] = None,
    listen: Annotated[str | None, typer.Option(help="udp:IP:PORT kamailio takes calls on.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write kamailio.cfg and dispatcher.list into this dir.")
    ] = None,
) -> None:
    """Print the kamailio.cfg and dispatcher.list that spread calls over the bots."""
    from voicebot.telephony.kamailio import Dispatch, DispatcherError, write_files
    from voicebot.telephony.kamailio import snippet as render

    try:
        cfg = _config(config)
        k, s = cfg.kamailio, cfg.sip
        bots = tuple(bot or k.bots or (f"sip:{s.public_host or s.listen_host}:{s.listen_port}",))
        dispatch = Dispatch(bots, listen=listen or k.listen, ping_interval_s=k.ping_interval_s)
        if out is not None:
            for path in write_files(dispatch, out):
                typer.echo(f"wrote {path}")
            return
    except (ConfigError, DispatcherError, OSError) as e:
        _fail(str(e))
    typer.echo(render(dispatch))


@app.command()
def call(
    uri: Annotated[str, typer.Argument(help="Who to call: sip:user@host or an extension.")],
    job: Annotated[Path, typer.Option("--job", help="Job YAML with the interview questions.")],
    config: ConfigOpt = None,
    name: Annotated[
        str | None, typer.Option(help="Candidate's name, used in the greeting.")
    ] = None,
    bridge: Annotated[
        str | None, typer.Option(help="sip | ari | agi | freeswitch (default: config).")
    ] = None,
) -> None:
    """Place one outbound interview and print its transcript."""
    cfg, job_def = _config_and_job(config, job)

    async def main() -> None:
        from voicebot.interview.runner import Interviewer
        from voicebot.serve import BridgeNotReady, open_bridge
        from voicebot.store import Store
        from voicebot.telephony.base import CallFailed

        store = await Store.open(cfg.store.path)
        try:
            interviewer = await Interviewer.create(cfg, store=store)
            await interviewer.warm_prompts(job_def)  # no voice for the job: fail before dialling
            async with open_bridge(cfg, bridge or "") as ep:
                try:
                    live = await ep.dial(uri, ring_timeout=cfg.campaigns.ring_timeout_s)
                except CallFailed as e:
                    _fail(f"call not answered: {e.cause} ({e.status} {e.reason})")
                result = await interviewer.interview(
                    live, job_def, bridge=ep.name, candidate_name=name
                )
        except BridgeNotReady as e:
            _fail(str(e))
        finally:
            await store.close()
        for t in result.turns:
            typer.echo(f"[{t.speaker:9}] {t.text}")
        typer.echo(f"outcome: {result.outcome}  call id: {result.call_id}")

    _run(main)


@app.command()
def demo(
    config: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    inbound: Annotated[bool, typer.Option(help="The candidate calls the bot instead.")] = False,
    job: Annotated[Path | None, typer.Option(help="Job YAML (default: the example job).")] = None,
    policy: Annotated[
        str | None, typer.Option(help="Dialogue engine: builtin or rasa (default: config).")
    ] = None,
) -> None:
    """A whole interview on loopback: kamailio, the bot, and a scripted candidate over SIP."""
    try:
        cfg = _config(config)
        if policy is not None:
            from voicebot.dialogue.select import with_engine

            cfg = with_engine(cfg, policy)
    except ConfigError as e:
        _fail(str(e))
    if as_json:
        logging.getLogger().setLevel(max(logging.WARNING, logging.getLogger().level))

    async def main() -> Any:
        from voicebot.demo import DEFAULT_JOB, run_demo

        return await run_demo(cfg, job_path=job or DEFAULT_JOB, inbound=inbound)

    report = _run(main)
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
    else:
        for t in report.turns:
            lat = f"  ({t['latency_ms']:.0f} ms)" if t["latency_ms"] is not None else ""
            typer.echo(f"[{t['speaker']:9}] {t['text']}{lat}")
        typer.echo(
            f"\noutcome: {report.outcome}; answers recognized {report.recognized_answers}"
            f"/{report.scripted_answers}; voice-to-voice latency p50 "
            f"{report.latency_ms['p50']} ms, p95 {report.latency_ms['p95']} ms; "
            f"stored in {report.store_path} as call {report.call_id}"
        )
        overall = report.report.get("overall") or {}
        typer.echo(
            f"report: {overall.get('recommendation')} (overall {overall.get('score')}); "
            + " and ".join(report.report_files)
        )
    if report.outcome != "completed":
        raise typer.Exit(1)


@app.command()
def doctor(
    config: ConfigOpt = None,
    bridge: Annotated[
        str | None,
        typer.Option(
            help="ari | agi: also connect to the PBX and check its side "
            "(default: the config's `bridge` when it is ari or agi)."
        ),
    ] = None,
) -> None:
    """Check config, models, tools and ports (and the PBX side); one verdict per line."""
    checks: list[tuple[str, bool | None, str]] = []
    try:
        cfg = _config(config)
        checks.append(("config", True, "valid"))
    except ConfigError as e:
        checks.append(("config", False, str(e)))
        cfg = Config()
    checks += _model_checks(cfg)
    from voicebot.dialogue.select import doctor_checks

    checks += doctor_checks(cfg)
    for tool in ("kamailio", "baresip", "linphonec", "espeak-ng", "sox"):
        path = shutil.which(tool)
        needed = "demo registrar" if tool == "kamailio" else "tests"
        checks.append(
            (f"tool {tool}", path is not None, path or f"not installed (needed for {needed})")
        )
    checks.append(_port_check(cfg.sip.listen_host, cfg.sip.listen_port))
    pbx = bridge or (cfg.bridge if cfg.bridge in ("ari", "agi") else None)
    if pbx is not None:
        from voicebot.telephony.doctor import pbx_checks

        if pbx not in ("ari", "agi"):
            _fail(f"--bridge: {pbx!r} is not one of ari, agi")
        checks += asyncio.run(pbx_checks(cfg, pbx))
    ok_all = True
    for name, ok, detail in checks:
        ok_all &= ok is not False
        verdict = "skip" if ok is None else "ok  " if ok else "FAIL"
        typer.echo(f"{verdict} {name:22} {detail}")
    raise typer.Exit(0 if ok_all else 1)


def _model_checks(cfg: Config) -> list[tuple[str, bool, str]]:
    from voicebot.speech import models

    out: list[tuple[str, bool, str]] = []
    finders: list[tuple[str, Callable[[], Any]]] = [
        ("piper voice", lambda: models.piper_voice_file(cfg.speech.tts_voice or None)),
    ]
    if cfg.speech.asr == "whisper":
        finders.append(
            ("whisper model", lambda: models.whisper_model_dir(cfg.speech.whisper_model or None))
        )
    else:
        finders.append(("vosk model", lambda: models.vosk_model_dir(cfg.speech.vosk_model)))
    for name, find in finders:
        try:
            out.append((name, True, str(find())))
        except Exception as e:  # any failure here is the verdict
            out.append((name, False, str(e)))
    return out


def _port_check(host: str, port: int) -> tuple[str, bool, str]:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError as e:
            return (f"sip port {port}/udp", False, f"cannot bind {host}:{port}: {e.strerror}")
    return (f"sip port {port}/udp", True, f"{host}:{port} is free")


def _register_hr() -> None:
    from voicebot.hr.cli import register

    register(app)


_register_hr()


def _register_scoring() -> None:
    from voicebot.scoring.cli import register

    register(app)


_register_scoring()


def _register_privacy() -> None:
    from voicebot.privacy_cli import register

    register(app)


_register_privacy()


def main() -> None:
    app(prog_name="voicebot")


if __name__ == "__main__":
    sys.exit(main())
