"""Bring jobs and candidates in from files, and pre-screen candidates against a job.

Candidates come as CSV or JSON. Each row is checked on its own: numbers are normalised to
E.164, the time zone comes from the row or is inferred from the number, résumé fields are
typed. Bad rows are reported with their line and reason while good rows still import; the
key (job, E.164) makes a re-import update rather than duplicate.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import phonenumbers
import yaml
from phonenumbers import timezone as phone_timezone

from voicebot.campaigns.settings import check_timezone
from voicebot.hr import tables
from voicebot.interview.plan import (
    Job,
    JobError,
    education_level,
    field_lines,
    meets_education,
    parse_job,
)
from voicebot.safeload import DocumentError, decode_text, load_json, load_yaml
from voicebot.store import Store
from voicebot.store import hr as db
from voicebot.store.hr import CandidateRecord

COLUMNS = (
    "phone",
    "name",
    "email",
    "external_id",
    "timezone",
    "years_experience",
    "education",
    "skills",
    "current_title",
    "consent_call",
    "consent_recording",
)
DEMOGRAPHIC_PREFIX = tables.DEMOGRAPHIC_PREFIX  # demographic_sex, demographic_race_ethnicity
_TRUE = {"1", "true", "yes", "y"}
_FALSE = {"0", "false", "no", "n", ""}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_CELL = 128 * 1024  # characters in one CSV cell or one field of a record


class CandidateFileError(ValueError):
    """A whole file that cannot be read (as opposed to a bad row, which is reported)."""


@dataclass(frozen=True, slots=True)
class RowError:
    line: int  # CSV: the file line the row starts on; xlsx: the sheet's row; JSON: index + 1
    reason: str
    column: str | None = None  # the column as HR finds it, when that is not the field's name

    def __str__(self) -> str:
        where = f"line {self.line}, column {self.column}" if self.column else f"line {self.line}"
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class ImportReport:
    source: str
    inserted: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)
    ineligible: int = 0  # of the job's candidates, after the automatic pre-screen

    @property
    def imported(self) -> int:
        return self.inserted + self.updated

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "imported": self.imported,
            "inserted": self.inserted,
            "updated": self.updated,
            "rejected": len(self.errors),
            "ineligible": self.ineligible,
            "errors": [
                {"line": e.line, "column": e.column, "reason": e.reason} for e in self.errors
            ],
        }


# jobs -----------------------------------------------------------------------------------------


def read_jobs(path: str | Path) -> list[tuple[Job, dict[str, Any]]]:
    """One job (YAML or JSON mapping) or a list of them, each validated; (job, raw spec).
    Read with `voicebot.safeload`'s limits, so a hostile file is one error naming its line."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise JobError(str(p), "", "file does not exist") from None
    except OSError as e:
        raise JobError(str(p), "", f"cannot read it: {e.strerror}") from None
    try:
        data, node = load_yaml(raw, str(p))  # JSON is YAML too
    except DocumentError as e:
        raise JobError(str(p), "", e.why, e.line) from None
    if not isinstance(data, list):
        job = parse_job(data, source=str(p), default_id=p.stem, lines=field_lines(node))
        return [(job, {**data, "id": job.id})]
    assert isinstance(node, yaml.SequenceNode)
    out = []
    for i, item in enumerate(data):
        lines = field_lines(node.value[i])
        job = parse_job(item, source=f"{p}[{i}]", default_id="", lines=lines)
        out.append((job, {**item, "id": job.id}))
    return out


async def import_jobs(store: Store, path: str | Path) -> list[tuple[str, bool]]:
    """Validate every job in the file first, then store them; (job id, new?) each."""
    jobs = read_jobs(path)
    return [(job.id, await db.upsert_job(store, job.id, job.title, spec)) for job, spec in jobs]


async def load_stored_job(store: Store, job_id: str) -> Job:
    spec = await db.get_job_spec(store, job_id)
    if spec is None:
        raise JobError(f"job {job_id}", "", "not imported (voicebot jobs import FILE)")
    return parse_job(spec, source=f"job {job_id}", default_id=job_id)


# candidates -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read a table when guessing is not enough (`candidates import` options)."""

    encoding: str | None = None
    delimiter: str | None = None
    mapping: tuple[str, ...] = ()  # "COLUMN=FIELD" each; saved for the file's header


@dataclass(slots=True)
class _Read:
    rows: Iterator[tuple[int, Mapping[str, Any] | str]]
    columns: dict[str, str] = field(default_factory=dict)  # field -> column, for errors
    save: tuple[str, dict[str, str]] | None = None  # (header key, mapping) HR gave


def _read(
    path: Path, raw: bytes, opts: ReadOptions, saved: Mapping[str, Mapping[str, str]]
) -> _Read:
    """The file's rows as records (or why a row cannot be read); a whole unreadable file
    raises CandidateFileError naming the file and line."""
    suffix = path.suffix.lower()
    if suffix in (".json", ".yaml", ".yml"):
        try:
            text = decode_text(raw, str(path))
        except DocumentError as e:
            raise CandidateFileError(str(e)) from None
        return _Read(_documents(path, text))
    if suffix == ".xls":
        raise CandidateFileError(f"{path}: an old binary .xls workbook; save it as .xlsx or CSV")
    try:
        if suffix in (".xlsx", ".xlsm") or raw.startswith(b"PK\x03\x04"):
            table = tables.read_xlsx(raw)
        else:
            table = tables.read_csv(raw, encoding=opts.encoding, delimiter=opts.delimiter)
        key = tables.header_key(table.header)
        given = tables.parse_map(opts.mapping, COLUMNS)
        mapping = {**saved.get(key, {}), **given}
        fields = tables.resolve_header(table.header, COLUMNS, mapping)
    except tables.TableError as e:
        raise CandidateFileError(f"{path}: {e}") from None
    columns = {
        f: table.column_name(i)
        for i, f in enumerate(fields)
        if f is not None and (table.sheet is not None or table.header[i] != f)
    }
    return _Read(_records(path, table, fields), columns, (key, mapping) if given else None)


def _documents(path: Path, text: str) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    try:
        if path.suffix.lower() == ".json":
            data = load_json(text, str(path))
        else:
            data, _ = load_yaml(text, str(path))
    except DocumentError as e:
        raise CandidateFileError(str(e)) from None
    if isinstance(data, Mapping) and isinstance(data.get("candidates"), list):
        data = data["candidates"]
    if not isinstance(data, list):
        raise CandidateFileError(f"{path}: expected a list of candidate objects")
    for i, item in enumerate(data):
        bad = f"not a candidate record: {item!s:.80}"
        yield i + 1, item if isinstance(item, Mapping) else bad


def _records(
    path: Path, table: tables.Table, fields: Sequence[str | None]
) -> Iterator[tuple[int, Mapping[str, Any] | str]]:
    try:
        for line, cells in table.rows:
            extra = cells[len(fields) :]
            big = next(
                (
                    f
                    for f, c in zip(fields, cells, strict=False)
                    if isinstance(c, str) and len(c) > MAX_CELL
                ),
                None,
            )
            if any(c is not None and str(c).strip() for c in extra):
                yield line, "not a candidate record: more fields than the header has columns"
            elif big is not None:
                kib = len(cells[fields.index(big)]) // 1024
                yield line, f"{big}: the cell holds {kib} KiB, more than {MAX_CELL // 1024} KiB"
            else:
                yield line, {f: c for f, c in zip(fields, cells, strict=False) if f is not None}
    except tables.TableError as e:
        raise CandidateFileError(f"{path}: {e}") from None


def parse_candidate(row: Mapping[str, Any], job_id: str, region: str) -> CandidateRecord:
    """One row as a `CandidateRecord`; raises ValueError with the reason."""
    for key, value in row.items():
        _check_value(str(key), value)
    raw_phone = str(row.get("phone") or "").strip()
    if not raw_phone:
        raise ValueError("phone: required")
    try:
        number = phonenumbers.parse(raw_phone, region)
    except phonenumbers.NumberParseException as e:
        raise ValueError(f"phone: not a phone number ({e})") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("phone: not a valid number for its country")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    tz = _text(row, "timezone")
    if tz:
        if not check_timezone(tz):
            raise ValueError(f"timezone: {tz!r} is not an IANA time zone such as Europe/Berlin")
    else:
        zones = [z for z in phone_timezone.time_zones_for_number(number) if check_timezone(z)]
        if not zones:
            raise ValueError("timezone: missing and cannot be inferred from the number")
        tz = zones[0]
    email = _text(row, "email")
    if email and not _EMAIL.match(email):
        raise ValueError(f"email: {email!r} is not an e-mail address")
    skills = row.get("skills") or []
    if isinstance(skills, str):
        skills = [s for s in re.split(r"[;,|]", skills)]
    if not isinstance(skills, Sequence):
        raise ValueError("skills: expected a list or 'a; b; c'")
    return CandidateRecord(
        job_id=job_id,
        phone_e164=e164,
        timezone=tz,
        name=_text(row, "name"),
        email=email,
        external_id=_text(row, "external_id"),
        years_experience=_years(row.get("years_experience")),
        education=_education(_text(row, "education")),
        skills=tuple(dict.fromkeys(s.strip() for s in map(str, skills) if str(s).strip())),
        current_title=_text(row, "current_title"),
        consent_call=_flag(row, "consent_call", default=True),
        consent_recording=_flag(row, "consent_recording", default=False),
        demographics={
            k.removeprefix(DEMOGRAPHIC_PREFIX): str(v).strip()
            for k, v in row.items()
            if str(k).startswith(DEMOGRAPHIC_PREFIX) and v is not None and str(v).strip()
        },
    )


def _check_value(key: str, value: Any) -> None:
    """Fields are text, numbers or yes/no (skills may be a list of text): a nested object or
    a huge value is the row's error, not the store's."""
    items = value if key == "skills" and isinstance(value, list) else [value]
    for item in items:
        if item is not None and not isinstance(item, str | int | float | bool):
            raise ValueError(f"{key}: expected text or a number, got {type(item).__name__}")
        if isinstance(item, str) and len(item) > MAX_CELL:
            raise ValueError(f"{key}: {len(item) // 1024} KiB, more than {MAX_CELL // 1024} KiB")


def _text(row: Mapping[str, Any], key: str) -> str | None:
    value = row.get(key)
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def _years(value: Any) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        years = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"years_experience: {value!r} is not a number") from None
    if not 0 <= years <= 70:
        raise ValueError(f"years_experience: {years:g} is outside 0..70")
    return years


def _education(value: str | None) -> str | None:
    """Known levels are normalised (`Master's`, 硕士 -> master) so must-haves can compare
    them; anything else is kept as written."""
    return education_level(value) or value


def _flag(row: Mapping[str, Any], key: str, *, default: bool) -> bool:
    value = row.get(key)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{key}: expected yes/no, got {value!r}")


def _parse_file(
    p: Path,
    raw: bytes,
    job_id: str,
    region: str,
    opts: ReadOptions = ReadOptions(),
    saved: Mapping[str, Mapping[str, str]] | None = None,
) -> tuple[ImportReport, list[CandidateRecord], tuple[str, dict[str, str]] | None]:
    """Every row checked (CPU work: run off the event loop); nothing is stored here."""
    read = _read(p, raw, opts, saved or {})
    report = ImportReport(source=str(p))
    good: list[CandidateRecord] = []
    seen: dict[str, int] = {}

    def error(line: int, reason: str) -> RowError:
        return RowError(line, reason, read.columns.get(reason.split(":", 1)[0]))

    for line, row in read.rows:
        try:
            if isinstance(row, str):
                raise ValueError(row)
            record = parse_candidate(row, job_id, region)
        except ValueError as e:
            report.errors.append(error(line, str(e)))
            continue
        if record.phone_e164 in seen:
            report.errors.append(
                error(line, f"phone: same number as line {seen[record.phone_e164]}")
            )
            continue
        seen[record.phone_e164] = line
        good.append(record)
    return report, good, read.save


async def import_candidates(
    store: Store,
    path: str | Path,
    job_id: str,
    *,
    region: str = "US",
    options: ReadOptions = ReadOptions(),
) -> ImportReport:
    """Import every good row; report every bad one with its line and reason. A `--map` HR
    gives is saved for the file's header, so the next export like it needs none."""
    p = Path(path)
    if await db.get_job_spec(store, job_id) is None:
        raise CandidateFileError(f"job {job_id!r} is not imported (voicebot jobs import FILE)")
    try:
        raw = await asyncio.to_thread(p.read_bytes)
    except FileNotFoundError:
        raise CandidateFileError(f"{p}: file does not exist") from None
    except OSError as e:
        raise CandidateFileError(f"{p}: cannot read it: {e.strerror}") from None
    saved = await tables.saved_mappings(store)
    report, good, save = await asyncio.to_thread(
        _parse_file, p, raw, job_id, region, options, saved
    )
    report.inserted, report.updated = await db.upsert_candidates(store, good)
    if save is not None:
        await tables.save_mapping(store, *save)
    results = await screen(store, job_id)  # a changed résumé is judged again before any call
    report.ineligible = sum(not r.eligible for r in results)
    return report


# pre-screen -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScreenResult:
    candidate_id: str
    name: str | None
    eligible: bool
    reasons: tuple[str, ...]


def screen_candidate(job: Job, cand: Mapping[str, Any]) -> tuple[bool, list[str]]:
    """The job's must-haves against one résumé: (eligible, reasons it is not, or why it is)."""
    must = getattr(job, "must_haves", None)
    if must is None:
        return True, ["the job has no must-haves"]
    misses: list[str] = []
    need_years = getattr(must, "min_years_experience", None)
    years = cand.get("years_experience")
    if need_years is not None:
        if years is None:
            misses.append(f"years of experience unknown (needs {need_years:g})")
        elif years < need_years:
            misses.append(f"{years:g} years of experience (needs {need_years:g})")
    have = {s.casefold() for s in cand.get("skills") or ()}
    missing = [s for s in getattr(must, "skills", ()) if s.casefold() not in have]
    if missing:
        misses.append(f"missing skill(s): {', '.join(missing)}")
    wanted = tuple(getattr(must, "education", ()) or ())
    if wanted and not meets_education(cand.get("education"), wanted):
        misses.append(
            f"education {cand.get('education') or 'unknown'} (needs one of {', '.join(wanted)})"
        )
    return (not misses), (misses or ["meets every must-have"])


async def screen(store: Store, job_id: str) -> list[ScreenResult]:
    """Screen every candidate of the job and remember the verdicts (campaigns skip the
    ineligible)."""
    job = await load_stored_job(store, job_id)
    out = []
    for cand in await db.list_candidates(store, job_id):
        ok, why = screen_candidate(job, cand)
        out.append(ScreenResult(cand["id"], cand.get("name"), ok, tuple(why)))
    await db.set_screen(store, [(r.candidate_id, r.eligible, r.reasons) for r in out])
    return out
