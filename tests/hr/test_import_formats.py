"""Candidate files as HR's tools export them: Chinese Excel's GBK "CSV", UTF-8 with a BOM,
UTF-16 "Unicode text", European `;` CSVs, headers such as E-mail/邮箱/手机, a `--map` that is
remembered for the next file with the same header, `.xlsx` sheets with phones stored as
numbers; and Chinese education levels against the job's must-haves."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import openpyxl
import pytest
from typer.testing import CliRunner

from tests.hr.helpers import JOB_FILE, JOB_ID
from voicebot.hr.importer import (
    CandidateFileError,
    ReadOptions,
    import_candidates,
    screen_candidate,
)
from voicebot.interview.plan import MustHaves, Resume, education_level, meets_education
from voicebot.scoring.score import _knockouts
from voicebot.store import Store
from voicebot.store import hr as db

# as Chinese Excel saves "CSV (逗号分隔)": GBK, CRLF, no BOM
GBK_ROWS = "姓名,电话,邮箱,学历\r\n张伟,13812345678,zhangwei@example.com,本科\r\n"


async def _people(store: Store) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in await db.list_candidates(store, JOB_ID)}


@pytest.mark.parametrize("codec", ["gbk", "gb18030"])
async def test_a_gbk_csv_from_chinese_excel_imports(
    store: Store, tmp_path: Path, codec: str
) -> None:
    path = tmp_path / "候选人.csv"
    path.write_bytes(
        (
            GBK_ROWS + "李娜,139 1234 5679,lina@example.com,硕士\r\n王芳,13712345670,,大专\r\n"
        ).encode(codec)
    )
    report = await import_candidates(store, path, JOB_ID, region="CN")
    assert (report.imported, report.errors) == (3, [])
    people = await _people(store)
    assert people["张伟"]["phone_e164"] == "+8613812345678"
    assert people["张伟"]["email"] == "zhangwei@example.com"
    assert people["李娜"]["phone_e164"] == "+8613912345679"
    assert [people[n]["education"] for n in ("张伟", "李娜", "王芳")] == [
        "bachelor", "master", "associate",
    ]  # fmt: skip
    assert people["张伟"]["timezone"] == "Asia/Shanghai"


async def test_a_two_line_gbk_file_is_not_read_as_korean(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_bytes("姓名,电话\r\n王芳,13812345678\r\n".encode("gbk"))  # cp949 decodes it too
    report = await import_candidates(store, path, JOB_ID, region="CN")
    assert report.errors == []
    assert list(await _people(store)) == ["王芳"]


async def test_utf8_with_bom_and_utf16_unicode_text_import(store: Store, tmp_path: Path) -> None:
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffName,E-mail,Phone\nAda,ada@example.com,+1 415 555 0100\n".encode())
    utf16 = tmp_path / "unicode.txt"  # Excel's "Unicode Text": UTF-16 LE with BOM, tabs
    utf16.write_bytes("姓名\t手机\t邮箱\r\n赵敏\t13812345671\tzm@example.com\r\n".encode("utf-16"))
    for path in (bom, utf16):
        report = await import_candidates(store, path, JOB_ID, region="CN")
        assert (report.imported, report.errors) == (1, []), path
    people = await _people(store)
    assert people["Ada"]["email"] == "ada@example.com"
    assert people["赵敏"]["phone_e164"] == "+8613812345671"


@pytest.mark.parametrize("sep", [";", "\t", ","])
async def test_the_separator_is_sniffed_from_the_header(
    store: Store, tmp_path: Path, sep: str
) -> None:
    path = tmp_path / "eu.csv"  # European Excel: Windows-1252 and ';'
    rows = [["Phone", "Name", "E-Mail"], ["+49 30 1234567", "Jürgen Müller", "j@example.de"],
            ["+49 30 1234568", "Zoë Weiß, Dr.", "z@example.de"]]  # fmt: skip
    text = "\r\n".join(sep.join(f'"{c}"' if "," in c else c for c in r) for r in rows) + "\r\n"
    path.write_bytes(text.encode("cp1252"))
    report = await import_candidates(store, path, JOB_ID, region="DE")
    assert (report.imported, report.errors) == (2, [])
    assert set(await _people(store)) == {"Jürgen Müller", "Zoë Weiß, Dr."}


async def test_excel_blank_rows_are_skipped_and_bad_rows_name_line_and_column(
    store: Store, tmp_path: Path
) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(
        (
            GBK_ROWS + ",,,\r\n李娜,12345,lina@example.com,硕士\r\n王芳,13712345670,王芳@,本科\r\n"
        ).encode("gbk")
    )
    report = await import_candidates(store, path, JOB_ID, region="CN")
    assert [str(e) for e in report.errors] == [
        "line 4, column 电话: phone: not a valid number for its country",
        "line 5, column 邮箱: email: '王芳@' is not an e-mail address",
    ]
    assert report.to_dict()["errors"][0]["column"] == "电话"
    assert list(await _people(store)) == ["张伟"]  # the good row next to them is in


async def test_a_map_is_saved_for_files_with_the_same_header(store: Store, tmp_path: Path) -> None:
    header = "Mobile No.;Candidate Full Name;Stage\n"
    first, second, other = tmp_path / "a.csv", tmp_path / "b.csv", tmp_path / "c.csv"
    first.write_text(header + "+1 415 555 0100;Ada;Applied\n")
    second.write_text(header + "+1 415 555 0101;Grace;Screen\n")
    other.write_text("Mobile;Stage\n+1 415 555 0102;Applied\n")
    unknown = r"\['Mobile No.', 'Candidate Full Name', 'Stage'\].*--map 'Mobile No.=FIELD'"
    with pytest.raises(CandidateFileError, match=r"a.csv: line 1: unknown column\(s\) " + unknown):
        await import_candidates(store, first, JOB_ID)
    maps = ("Mobile No.=phone", "candidate full name=name", "Stage=-")
    report = await import_candidates(store, first, JOB_ID, options=ReadOptions(mapping=maps))
    assert (report.imported, report.errors) == (1, [])
    report = await import_candidates(store, second, JOB_ID)  # no --map: the saved one
    assert (report.imported, report.errors) == (1, [])
    assert set(await _people(store)) == {"Ada", "Grace"}
    with pytest.raises(CandidateFileError, match=r"c.csv: line 1: unknown column\(s\) \['Stage'"):
        await import_candidates(store, other, JOB_ID)  # another header: not that mapping


async def test_a_bad_map_or_encoding_is_one_clear_error(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_bytes(GBK_ROWS.encode("gbk"))
    cases = [
        (ReadOptions(mapping=("邮箱=mail",)), r"--map '邮箱=mail': 'mail' is no field"),
        (ReadOptions(mapping=("Fax=-",)), r"--map names 'fax', which is no column"),
        (ReadOptions(mapping=("email",)), r"expected COLUMN=FIELD"),
        (ReadOptions(encoding="utf-8"), r"c.csv: line 1: not utf-8 text \(.* at byte 0\)"),
        (ReadOptions(encoding="klingon"), r"'klingon': not an encoding"),
        (ReadOptions(delimiter="::"), r"--delimiter '::': expected one character"),
    ]
    for opts, match in cases:
        with pytest.raises(CandidateFileError, match=match):
            await import_candidates(store, path, JOB_ID, region="CN", options=opts)
    report = await import_candidates(
        store, path, JOB_ID, region="CN", options=ReadOptions(encoding="gbk", delimiter=",")
    )
    assert report.imported == 1


async def test_two_columns_for_one_field_are_refused(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("手机,电话,姓名\n13812345678,010-12345678,张伟\n", encoding="utf-8")
    with pytest.raises(
        CandidateFileError, match=r"'手机' and '电话' are both phone.*--map '电话=-'"
    ):
        await import_candidates(store, path, JOB_ID, region="CN")
    opts = ReadOptions(mapping=("电话=-",))
    assert (await import_candidates(store, path, JOB_ID, region="CN", options=opts)).imported == 1


def _workbook(path: Path, rows: list[list[Any]]) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "候选人"
    for row in rows:
        ws.append(row)
    wb.create_sheet("其他").append(["ignored", "sheet"])
    wb.save(path)


async def test_xlsx_first_sheet_with_phones_stored_as_numbers(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "export.xlsx"
    _workbook(path, [
        ["姓名", "手机", "学历", "工作年限", "入职日期"],
        ["张伟", 13812345678.0, "本科", 5.0, None],
        ["李娜", 12345, "硕士", 3, None],
        [None, None, None, None, None],
        ["王芳", 13712345670, "博士", "十年", None],
        ["赵敏", "+86 139 1234 5678", "Master's degree", 2.5, None],
    ])  # fmt: skip
    report = await import_candidates(
        store, path, JOB_ID, region="CN", options=ReadOptions(mapping=("入职日期=-",))
    )
    assert [str(e) for e in report.errors] == [
        "line 3, column B (手机): phone: not a valid number for its country",
        "line 5, column D (工作年限): years_experience: '十年' is not a number",
    ]
    people = await _people(store)
    assert people["张伟"]["phone_e164"] == "+8613812345678"
    assert people["张伟"]["years_experience"] == 5
    assert people["赵敏"]["education"] == "master"
    assert set(people) == {"张伟", "赵敏"}


async def test_a_file_that_is_no_workbook_is_one_error(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "broken.xlsx"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CandidateFileError, match=r"broken.xlsx: not an .xlsx workbook"):
        await import_candidates(store, path, JOB_ID)
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(CandidateFileError, match=r"old.xls: an old binary .xls workbook"):
        await import_candidates(store, old, JOB_ID)


def test_the_cli_takes_map_encoding_and_delimiter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voicebot.cli import app

    monkeypatch.setenv("VOICEBOT_STORE__PATH", str(tmp_path / "cli.db"))
    run = CliRunner().invoke
    assert run(app, ["jobs", "import", str(JOB_FILE)]).exit_code == 0
    path = tmp_path / "c.txt"
    path.write_bytes("Handy|Name\n+49 30 1234567|Jürgen\n".encode("cp1252"))
    args = ["candidates", "import", str(path), "--job", JOB_ID, "--region", "DE"]
    refused = run(app, args)
    assert refused.exit_code == 2
    assert "unknown column(s) ['Handy']" in refused.output
    done = run(app, [*args, "--map", "Handy=phone", "--encoding", "cp1252", "--delimiter", "|"])
    assert done.exit_code == 0, done.output
    assert "1 imported (1 new, 0 updated), 0 rejected" in done.output


# education ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "level"),
    [("大专", "associate"), ("本科", "bachelor"), ("硕士", "master"), ("博士", "phd"),
     ("硕士研究生", "master"), ("Master's degree", "master"), ("Bachelor of Science", "bachelor"),
     ("B.Sc.", "bachelor"), ("MBA", "master"), ("Ph.D.", "phd"), ("高中", "high_school"),
     ("Associate degree", "associate"), ("本科/硕士", "master"), ("Computer Science", None)],
)  # fmt: skip
def test_education_levels_in_chinese_and_english(text: str, level: str | None) -> None:
    assert education_level(text) == level


@pytest.mark.parametrize(
    ("have", "meets"),
    [("本科", True), ("硕士", True), ("博士", True), ("Master's degree", True), ("bachelor", True),
     ("大专", False), ("高中", False), (None, False), ("Computer Science", False)],
)  # fmt: skip
def test_bachelor_as_a_must_have_is_met_by_that_level_or_above(
    have: str | None, meets: bool
) -> None:
    must = MustHaves(education=("bachelor",))
    assert meets_education(have, must.education) is meets

    job = SimpleNamespace(must_haves=must, all_questions=())
    ok, why = screen_candidate(job, {"education": have})  # type: ignore[arg-type]
    assert ok is meets, why
    flags = _knockouts(job, {}, None, None, Resume(education=have))  # type: ignore[arg-type]
    assert any(f["rule"] == "must_haves.education" for f in flags) is not meets  # the report
