"""`voicebot db migrate` and `voicebot db copy` (an install moved from its SQLite file to a
shared PostgreSQL, nothing lost, counts checked), and `voicebot rasa endpoints` (Rasa's
tracker store in SQL when several workers share one Rasa)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import unquote, urlsplit

import typer
import yaml

from voicebot.store.db import Store, StoreError
from voicebot.store.pg import is_pg_url, safe_url

db_app = typer.Typer(no_args_is_help=True, help="The store: migrate it, copy it to PostgreSQL.")
rasa_app = typer.Typer(no_args_is_help=True, help="Rasa's configuration for voicebot.")

# not copied: the schema's own bookkeeping (both ends are at the newest schema once opened)
_SKIP = {"schema_migrations", "sqlite_sequence"}
_BATCH = 2000


def _target(url: str | None, config: Path | None) -> str:
    if url:
        return url
    from voicebot.cli import _config

    return _config(config).store.path


def _where(target: str) -> str:
    return safe_url(target) if is_pg_url(target) else target


def _fail(message: str) -> None:
    typer.echo(f"voicebot: {message}", err=True)
    raise typer.Exit(2)


@db_app.command("migrate")
def migrate(
    url: Annotated[str | None, typer.Option(help="Store path or URL (default: config).")] = None,
    config: Annotated[Path | None, typer.Option(help="voicebot.toml")] = None,
) -> None:
    """Bring the store to the newest schema (opening it does; this says so and exits)."""
    target = _target(url, config)

    async def main() -> int:
        async with await Store.open(target) as store:
            return await store.schema_version()

    try:
        version = asyncio.run(main())
    except StoreError as e:
        _fail(str(e))
    typer.echo(f"{_where(target)}: schema {version}")


async def tables(store: Store) -> list[str]:
    """The store's tables, parents before children (foreign keys), schema bookkeeping out."""
    if store.dialect == "sqlite":
        async with store._db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
        ) as cur:
            names = [r[0] for r in await cur.fetchall()]
        deps: dict[str, set[str]] = {}
        for name in names:
            async with store._db.execute(f"PRAGMA foreign_key_list({name})") as cur:
                deps[name] = {r[2] for r in await cur.fetchall()} - {name}
    else:
        async with store._db.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() ORDER BY table_name"
        ) as cur:
            names = [r[0] for r in await cur.fetchall()]
        async with store._db.execute(
            "SELECT tc.table_name, ccu.table_name FROM information_schema.table_constraints tc "
            "JOIN information_schema.constraint_column_usage ccu "
            "ON tc.constraint_name = ccu.constraint_name "
            "WHERE tc.constraint_type = 'FOREIGN KEY' AND tc.table_schema = current_schema()"
        ) as cur:
            edges = await cur.fetchall()
        deps = {n: set() for n in names}
        for child, parent in edges:
            if child != parent:
                deps[child].add(parent)
    out: list[str] = []
    while len(out) < len(names):
        ready = [n for n in names if n not in out and deps[n] <= set(out)]
        if not ready:
            raise StoreError(f"foreign keys in a cycle among {sorted(set(names) - set(out))}")
        out.extend(ready)
    return [n for n in out if n not in _SKIP]


async def count(store: Store, table: str) -> int:
    async with store._db.execute(f"SELECT COUNT(*) FROM {table}") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row else 0


async def _rows(store: Store, table: str, offset: int) -> tuple[list[str], list[Any]]:
    order = "rowid" if store.dialect == "sqlite" else "1"
    async with store._db.execute(
        f"SELECT * FROM {table} ORDER BY {order} LIMIT ? OFFSET ?", (_BATCH, offset)
    ) as cur:
        rows = await cur.fetchall()
    return (list(rows[0].keys()) if rows else []), [tuple(r) for r in rows]


async def copy_store(
    src: Store, dst: Store, *, replace: bool = False
) -> list[tuple[str, int, int]]:
    """Every row of every table from `src` into `dst` in one transaction; (table, rows in
    src, rows in dst) after. A `dst` holding data is refused unless `replace` (it is emptied
    first). Raises StoreError when the schemas or any count differ."""
    if await src.schema_version() != await dst.schema_version():
        raise StoreError("source and target are at different schemas: open both first")
    names = await tables(src)
    missing = set(names) - set(await tables(dst))
    if missing:
        raise StoreError(f"target has no table(s) {sorted(missing)}")
    held = [t for t in names if t != "pii_meta" and await count(dst, t)]
    if held and not replace:
        raise StoreError(f"target is not empty ({', '.join(held)}): pass --replace to overwrite it")
    await dst._db.commit()
    await dst._db.execute("BEGIN")
    try:
        for table in reversed(names):
            await dst._db.execute(f"DELETE FROM {table}")
        for table in names:
            offset = 0
            while True:
                cols, rows = await _rows(src, table, offset)
                if not rows:
                    break
                marks = ", ".join("?" for _ in cols)
                await dst._db.executemany(
                    f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})", rows
                )
                offset += len(rows)
        if dst.dialect == "postgresql":  # identity columns continue after the copied ids
            for table, column in (("turns", "id"), ("audit", "id")):
                await dst._db.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
                )
        await dst._db.commit()
    except BaseException:
        await dst._db.rollback()
        raise
    out = [(t, await count(src, t), await count(dst, t)) for t in names]
    bad = [t for t, a, b in out if a != b]
    if bad:
        raise StoreError(f"row counts differ after the copy: {', '.join(bad)}")
    return out


@db_app.command("copy")
def copy(
    source: Annotated[str, typer.Option("--from", help="sqlite:PATH (or a store URL)")],
    target: Annotated[str, typer.Option("--to", help="postgresql://user@host:port/db")],
    replace: Annotated[bool, typer.Option(help="Empty a target that holds data first.")] = False,
    config: Annotated[Path | None, typer.Option(help="voicebot.toml (its PII keys)")] = None,
) -> None:
    """Copy every table of one store into another (both migrated to the newest schema first),
    then print each table's row counts on both sides; fails when any differ."""
    from voicebot.cli import _config

    _config(config)  # the PII keys the source was made with

    async def main() -> list[tuple[str, int, int]]:
        async with await Store.open(source) as src, await Store.open(target) as dst:
            return await copy_store(src, dst, replace=replace)

    try:
        counts = asyncio.run(main())
    except StoreError as e:
        _fail(str(e))
    width = max(len(t) for t, _, _ in counts)
    for table, a, b in counts:
        typer.echo(f"{table:<{width}}  {a:>8}  {b:>8}")
    typer.echo(f"copied {sum(a for _, a, _ in counts)} rows: {_where(source)} -> {_where(target)}")


# rasa ------------------------------------------------------------------------------------------


def rasa_endpoints(tracker_store: str, action_port: int = 5055) -> dict[str, Any]:
    """endpoints.yml for Rasa with its SQL tracker store on this PostgreSQL (Rasa reads the
    host as `url`), so conversations survive a Rasa restart and several workers share one."""
    parts = urlsplit(tracker_store)
    if not is_pg_url(tracker_store) or not parts.hostname or not parts.path.strip("/"):
        raise ValueError(f"{safe_url(tracker_store)!r}: expected postgresql://user@host:port/db")
    store: dict[str, Any] = {
        "type": "SQL",
        "dialect": "postgresql",
        "url": parts.hostname,
        "port": parts.port or 5432,
        "db": unquote(parts.path.strip("/")),
    }
    if parts.username:
        store["username"] = unquote(parts.username)
    if parts.password:
        store["password"] = unquote(parts.password)
    return {
        "action_endpoint": {"url": f"http://127.0.0.1:{action_port}/webhook"},
        "tracker_store": store,
    }


@rasa_app.command("endpoints")
def endpoints(
    tracker_store: Annotated[
        str | None,
        typer.Option(help="postgresql://user@host:port/db for Rasa's SQL tracker store."),
    ] = None,
    out: Annotated[Path, typer.Option(help="File to write.")] = Path("rasa_project/endpoints.yml"),
    action_port: Annotated[int, typer.Option(help="voicebot's custom actions port.")] = 5055,
) -> None:
    """Write Rasa's endpoints.yml: the actions on 127.0.0.1, and the tracker store in
    PostgreSQL when given (without it, Rasa keeps conversations in memory, the default)."""
    if tracker_store:
        try:
            data = rasa_endpoints(tracker_store, action_port)
        except ValueError as e:
            _fail(str(e))
    else:
        data = {"action_endpoint": {"url": f"http://127.0.0.1:{action_port}/webhook"}}
    head = (
        "# Written by `voicebot rasa endpoints`. The custom actions run in voicebot's own Python\n"
        "# (`voicebot rasa-actions`) on 127.0.0.1"
        + ("; conversations live in PostgreSQL (Rasa's SQL tracker store).\n" if tracker_store
           else ".\n")
    )  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(head + yaml.safe_dump(data, sort_keys=False))
    if tracker_store and "password" in data["tracker_store"]:
        out.chmod(0o600)
    typer.echo(f"wrote {out}")
