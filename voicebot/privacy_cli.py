"""`voicebot candidates erase`, `voicebot purge` and `voicebot pii rotate|keygen`: what HR runs
when a candidate asks to be forgotten, when data passes its retention age, and when a key
changes. Each writes an audit row naming who ran it, never the candidate's name or number."""

from __future__ import annotations

import getpass
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from voicebot import pii

pii_app = typer.Typer(no_args_is_help=True, help="Keys of candidates' data at rest.")
_AGE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhm]?)\s*$")
_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "": 86400.0}

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="TOML config file (or $VOICEBOT_CONFIG).", show_default=False
    ),
]


def actor() -> str:
    """Who ran the command, for the audit row (an operator's login, not a candidate)."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def parse_age(text: str) -> float:
    """`90d`, `36h`, `90` (days) -> seconds; anything else is a one-line error."""
    m = _AGE.match(text)
    if not m or float(m.group(1)) <= 0:
        raise typer.BadParameter(f"{text!r}: expected an age such as 90d, 36h or 45m")
    return float(m.group(1)) * _UNIT_S[m.group(2)]


def _summary(cfg: Any, erased: Any) -> str:
    """What went, recordings deleted from disk on the way."""
    from voicebot.store.privacy import delete_recordings

    recordings = delete_recordings(cfg.api.recordings_dir, erased.recordings)
    c = erased.counts()
    return (
        f"{c['candidates']} candidate(s), {c['calls']} call(s): {c['turns']} turn(s), "
        f"{c['reports']} report(s), {recordings} recording(s), {c['events']} webhook payload(s)"
    )


def register(app: typer.Typer) -> None:
    from voicebot.hr.cli import _config, _fail, _with_store, candidates_app

    @candidates_app.command("erase")
    def candidates_erase(
        candidate_id: Annotated[str, typer.Argument(help="The candidate's id (cand_...).")],
        config: ConfigOpt = None,
    ) -> None:
        """Forget a candidate: contact fields, turns, reports, recordings; keeps the number's
        hash on the do-not-call list and writes an audit row."""
        from voicebot.store import privacy

        cfg = _config(config)
        erased = _with_store(cfg, lambda s: privacy.erase(s, candidate_id, actor()))
        if erased is None:
            _fail(f"candidate {candidate_id!r} does not exist")
        typer.echo(f"erased {_summary(cfg, erased)}")

    @app.command("purge")
    def purge(
        older_than: Annotated[
            str | None,
            typer.Option(help="Age: 90d, 36h (default: pii.retention_days)."),
        ] = None,
        config: ConfigOpt = None,
    ) -> None:
        """Retention: erase what is older than the age (calls' turns, reports, recordings;
        candidates with no activity since)."""
        from voicebot.store import privacy

        cfg = _config(config)
        if older_than is None:
            if not cfg.pii.retention_days:
                _fail("purge: pass --older-than (e.g. 90d) or set pii.retention_days")
            age = cfg.pii.retention_days * 86400.0
        else:
            age = parse_age(older_than)
        erased = _with_store(cfg, lambda s: privacy.purge_older_than(s, age, "retention"))
        typer.echo(f"purged {_summary(cfg, erased)}")

    @pii_app.command("rotate")
    def pii_rotate(config: ConfigOpt = None) -> None:
        """Re-encrypt every contact field with the newest key. With a generated key file a new
        key is added to it first; with pii.keys, put the new key first, run this, then drop
        the old one."""
        from voicebot.store import privacy

        cfg = _config(config)
        try:
            keys = pii.keys(cfg.pii)
        except pii.PiiError as e:
            _fail(str(e))
        if not cfg.pii.secret:
            path = Path(cfg.pii.key_file)
            new = pii.from_values(keys.secret.decode(), [pii.new_key(), *keys.keys], keys.source)
            # the old key stays readable until every row is under the new one
            pii.write_key_file(path, new)
            pii.forget_cached()
        n = _with_store(cfg, lambda s: privacy.rotate_keys(s, actor()))
        if not cfg.pii.secret:  # every row is under the new key now: the old one goes
            pii.write_key_file(Path(cfg.pii.key_file), pii.keys(cfg.pii).newest())
            pii.forget_cached()
        typer.echo(f"re-encrypted {n} candidate(s) with the newest key")

    @pii_app.command("keygen")
    def pii_keygen() -> None:
        """Print a new Fernet key and secret, for pii.keys and pii.secret."""
        typer.echo(f"VOICEBOT_PII__SECRET={pii.new_secret()}")
        typer.echo(f"VOICEBOT_PII__KEYS={pii.new_key()}")

    app.add_typer(pii_app, name="pii")
