"""Candidate tables as HR's tools export them, read into a header and rows of cells.

CSV comes in whatever encoding Excel or an ATS wrote (UTF-8 with or without a BOM,
GBK/GB18030 from Chinese Excel, UTF-16 "Unicode text", Windows-1252), separated by `,`, `;`
(European Excel) or tabs; `.xlsx` is read from its first sheet with the values Excel stores
(a phone typed as a number is 13812345678.0). The header is mapped to voicebot's fields by
English and Chinese names (`E-mail`, 邮箱, 手机 ...), by `--map COLUMN=FIELD`, or by the mapping
saved the last time a file with the same header was imported.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sqlite3
import time
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from charset_normalizer import from_bytes

from voicebot.store import Store
from voicebot.store.hr import run

SKIP = "-"  # `--map Notes=-`: a column voicebot does not read
DELIMITERS = (",", ";", "\t", "|")
_DELIMITER_NAMES = {"tab": "\t", "\\t": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}
_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
# the header names HR's exports use for each field (compared after _norm)
ALIASES: dict[str, tuple[str, ...]] = {
    "phone": ("phone", "phone number", "mobile", "mobile phone", "mobile number", "cell",
              "cell phone", "telephone", "tel", "contact number", "电话", "手机", "手机号",
              "手机号码", "电话号码", "联系电话", "联系方式", "移动电话"),
    "name": ("name", "full name", "candidate", "candidate name", "applicant", "applicant name",
             "姓名", "名字", "候选人", "候选人姓名", "应聘者", "应聘者姓名"),
    "email": ("email", "e-mail", "mail", "email address", "e-mail address", "邮箱", "电子邮箱",
              "电子邮件", "邮件", "邮箱地址"),
    "external_id": ("external id", "candidate id", "applicant id", "ats id", "候选人编号",
                    "候选人id", "编号"),
    "timezone": ("timezone", "time zone", "tz", "时区"),
    "years_experience": ("years experience", "years of experience", "experience years",
                         "experience", "工作年限", "工作经验", "工作经验年限", "年限", "经验"),
    "education": ("education", "degree", "highest degree", "education level", "学历",
                  "最高学历", "教育程度", "学位"),
    "skills": ("skills", "skill", "技能", "专业技能", "技能标签"),
    "current_title": ("current title", "title", "job title", "current position", "position",
                      "当前职位", "职位", "现任职位", "目前职位"),
    "consent_call": ("consent call", "consent to call", "同意来电", "同意致电"),
    "consent_recording": ("consent recording", "consent to record", "同意录音"),
}  # fmt: skip
DEMOGRAPHIC_PREFIX = "demographic_"


class TableError(ValueError):
    """The whole file cannot be read as a table (its rows are never half-imported)."""


@dataclass(slots=True)
class Table:
    header: list[str]  # as written in the file
    rows: Iterator[tuple[int, list[Any]]]  # (file line or sheet row, cells)
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None

    def column_name(self, index: int) -> str:
        """How HR finds the column: its header, and in a sheet its letter too."""
        name = self.header[index] if index < len(self.header) else ""
        if self.sheet is None:
            return name
        from openpyxl.utils import get_column_letter

        return f"{get_column_letter(index + 1)} ({name})" if name else get_column_letter(index + 1)


# encodings ------------------------------------------------------------------------------------


def decode(raw: bytes, encoding: str | None = None, header_hint: bool = True) -> tuple[str, str]:
    """(text, encoding): the given encoding, else a BOM, else UTF-8, else the encoding under
    which the header reads as known column names (charset-normalizer proposes them: a short
    GBK file can also pass for Korean). Raises TableError naming the line and byte."""
    if encoding:
        return _decode_as(raw, encoding), encoding
    for bom, name in _BOMS:
        if raw.startswith(bom):
            return _decode_as(raw, name), name
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as e:
        if _mostly_utf8(raw):  # a damaged UTF-8 file: say where, rather than read mojibake
            line = raw.count(b"\n", 0, e.start) + 1
            raise TableError(
                f"line {line}: not UTF-8 text ({e.reason} at byte {e.start}); save the file "
                "as UTF-8 or name its encoding (--encoding gb18030)"
            ) from None
    guesses = [m.encoding for m in from_bytes(raw[: 256 * 1024])]
    guesses = ["gb18030" if g in ("gbk", "gb2312") else g for g in guesses]
    best: tuple[int, int, str, str] | None = None
    for rank, name in enumerate(dict.fromkeys([*guesses[:8], "gb18030", "cp1252"])):
        try:
            text = raw.decode(name)
        except (UnicodeDecodeError, LookupError):
            continue
        known = _known_columns(text) if header_hint else 0
        if rank >= len(guesses) and not known:
            continue  # our own fallbacks only count when the header proves them
        if best is None or known > best[0]:
            best = (known, rank, name, text)
    if best is None:
        raise TableError(
            "not text in any encoding voicebot recognises; save the file as UTF-8 CSV or "
            "name its encoding (--encoding gb18030)"
        )
    return best[3], best[2]


def _decode_as(raw: bytes, encoding: str) -> str:
    try:
        return raw.decode(encoding)
    except LookupError:
        raise TableError(f"--encoding {encoding!r}: not an encoding Python knows") from None
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise TableError(
            f"line {line}: not {encoding} text ({e.reason} at byte {e.start})"
        ) from None


def _mostly_utf8(raw: bytes) -> bool:
    """Valid multi-byte UTF-8 sequences outnumber broken ones ten to one: the file is UTF-8
    with damage, not text in another encoding (where valid sequences happen by chance)."""
    text = raw.decode("utf-8", errors="replace")
    broken = text.count("\ufffd")
    valid = sum(1 for ch in text if ord(ch) > 127 and ch != "\ufffd")
    return valid >= 10 * broken


def _known_columns(text: str) -> int:
    first = text.split("\n", 1)[0].rstrip("\r")
    return sum(_alias_field(c) is not None for c in _split(first, sniff_delimiter(first)))


# CSV ------------------------------------------------------------------------------------------


def delimiter_option(value: str | None) -> str | None:
    """`--delimiter`: one character, or tab/comma/semicolon/pipe by name."""
    if value is None:
        return None
    got = _DELIMITER_NAMES.get(value.lower(), value)
    if len(got) != 1 or got in '"\r\n':
        raise TableError(f"--delimiter {value!r}: expected one character such as ';' or 'tab'")
    return got


def sniff_delimiter(header_line: str) -> str:
    """The separator that splits the header into the most columns (`,` when none does)."""
    best, most = ",", 1
    for d in DELIMITERS:
        n = len(_split(header_line, d))
        if n > most:
            best, most = d, n
    return best


def _split(line: str, delimiter: str) -> list[str]:
    """One line's cells, quotes honoured; unlike csv.reader, no cell size limit (a hostile
    header is the header check's to refuse, not a csv.Error here)."""
    cells, cell, quoted = [], [], False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif ch == delimiter and not quoted:
            cells.append("".join(cell))
            cell = []
        else:
            cell.append(ch)
    return [*cells, "".join(cell)]


def read_csv(raw: bytes, *, encoding: str | None = None, delimiter: str | None = None) -> Table:
    text, used = decode(raw, encoding)
    text = text.lstrip("\ufeff")
    d = delimiter_option(delimiter) or sniff_delimiter(text.split("\n", 1)[0].rstrip("\r"))
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))  # MAX_CELL is ours
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=d)
    try:
        header = next(reader, [])
    except csv.Error as e:
        raise TableError(f"line 1: {e}") from None

    def rows() -> Iterator[tuple[int, list[Any]]]:
        line = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                raise TableError(f"line {line}: {e}") from None
            if any(c.strip() for c in cells):  # blank lines and Excel's ",,,," rows
                yield line, cells
            line = reader.line_num + 1

    return Table([h.strip() for h in header], rows(), encoding=used, delimiter=d)


# xlsx -----------------------------------------------------------------------------------------


def read_xlsx(raw: bytes) -> Table:
    """The first sheet, read-only; the header is its first non-empty row."""
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
        ws = wb.worksheets[0]
        ws.reset_dimensions()  # exporters often write a wrong <dimension>: read every row
        it = enumerate(ws.iter_rows(values_only=True), start=1)
        header: list[str] = []
        for _, values in it:
            if any(v is not None and str(v).strip() for v in values):
                header = [_cell(v) or "" for v in values]
                break
    except Exception as e:  # zipfile, XML and openpyxl's own errors: all mean "not a workbook"
        raise TableError(f"not an .xlsx workbook Excel could open ({type(e).__name__})") from None
    while header and not header[-1]:
        header.pop()

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for number, values in it:
                cells = [_cell(v) for v in values]
                if any(c is not None and str(c).strip() for c in cells):
                    yield number, cells
        except Exception as e:  # a broken part further into the file
            raise TableError(f"the sheet cannot be read on ({type(e).__name__})") from None
        finally:
            wb.close()

    return Table([h.strip() for h in header], rows(), sheet=ws.title)


def _cell(value: Any) -> Any:
    """A cell as the importer reads it: whole numbers without `.0` (a phone typed as a
    number), dates as ISO text."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return int(value)
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return value


# header mapping -------------------------------------------------------------------------------


def _norm(name: str) -> str:
    text = unicodedata.normalize("NFKC", name).casefold().lstrip("\ufeff")
    return re.sub(r"[\s\-_./:*()\[\]#【】]+", "", text)


_ALIAS_INDEX = {_norm(a): f for f, names in ALIASES.items() for a in (f, *names)}


def _alias_field(name: str) -> str | None:
    if name.strip().lower().startswith(DEMOGRAPHIC_PREFIX):
        return name.strip().lower()
    return _ALIAS_INDEX.get(_norm(name))


def _show(name: str, quoted: int = 1) -> str:
    """A column name for a one-line message: escaped, and cut when it is long."""
    text = repr(name if len(name) <= 40 else name[:40] + "…")
    return text if quoted else text[1:-1]


def header_key(header: Sequence[str]) -> str:
    """What identifies a source's export format: its header, normalised."""
    return json.dumps([_norm(h) for h in header], ensure_ascii=False)


def parse_map(items: Sequence[str], fields: Sequence[str]) -> dict[str, str]:
    """`--map 'E-mail=email' --map 'Notes=-'` as {normalised column: field or SKIP}."""
    out: dict[str, str] = {}
    for item in items:
        column, eq, target = item.rpartition("=")
        target = target.strip().lower()
        if not eq or not column.strip():
            raise TableError(f"--map {item!r}: expected COLUMN=FIELD such as 'E-mail=email'")
        if target != SKIP and target not in fields and not target.startswith(DEMOGRAPHIC_PREFIX):
            raise TableError(
                f"--map {item!r}: {target!r} is no field; use one of {', '.join(fields)}, "
                f"{DEMOGRAPHIC_PREFIX}* or '-' to skip the column"
            )
        out[_norm(column)] = target
    return out


def resolve_header(
    header: Sequence[str], fields: Sequence[str], mapping: Mapping[str, str]
) -> list[str | None]:
    """The field each column fills (None: skipped), or a TableError on line 1 that says which
    `--map` would fix it."""
    columns = {_norm(h) for h in header}
    stray = [c for c in mapping if c not in columns]
    if stray:
        raise TableError(
            f"line 1: --map names {_show(stray[0])}, which is no column of this file; "
            f"columns: {list(header)!r:.300}"
        )
    out: list[str | None] = []
    unknown: list[str] = []
    for h in header:
        target = mapping.get(_norm(h))
        if target is None:
            target = _alias_field(h) if h.strip() else SKIP
        if target is None:
            unknown.append(h)
        out.append(None if target == SKIP else target)
    if unknown:
        raise TableError(
            f"line 1: unknown column(s) {unknown!r:.300}; known: {', '.join(fields)} and "
            f"{DEMOGRAPHIC_PREFIX}*; map one with --map '{_show(unknown[0], 0)}=FIELD' or skip "
            f"it with --map '{_show(unknown[0], 0)}=-'"
        )
    seen: dict[str, str] = {}
    for h, f in zip(header, out, strict=True):
        if f is None:
            continue
        if f in seen:
            raise TableError(
                f"line 1: columns {_show(seen[f])} and {_show(h)} are both {f}; skip one with "
                f"--map '{_show(h, 0)}=-'"
            )
        seen[f] = h
    if "phone" not in seen:
        raise TableError(
            f"line 1: the header needs a 'phone' column (or 电话, 手机, Mobile ...; or "
            f"--map 'COLUMN=phone'); got {list(header)!r:.300}"
        )
    return out


# saved mappings -------------------------------------------------------------------------------


async def saved_mappings(store: Store) -> dict[str, dict[str, str]]:
    """Every mapping HR gave before, by header_key."""

    def _saved(conn: sqlite3.Connection) -> dict[str, dict[str, str]]:
        rows = conn.execute("SELECT header, mapping FROM import_mappings").fetchall()
        return {r[0]: json.loads(r[1]) for r in rows}

    return await run(store, _saved)


async def save_mapping(store: Store, key: str, mapping: Mapping[str, str]) -> None:
    def _save(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO import_mappings (header, mapping, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (header) DO UPDATE SET mapping = excluded.mapping, "
            "updated_at = excluded.updated_at",
            (key, json.dumps(dict(mapping), ensure_ascii=False), time.time()),
        )

    await run(store, _save)
