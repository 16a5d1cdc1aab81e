"""`voicebot report ID --pdf FILE`: the report as a PDF (WeasyPrint) with the candidate's
name in its text; `--version N` reads an earlier version; `--rescore` adds one."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from pypdf import PdfReader
from scoring_data import JOBS, STRONG, candidate_call

from tests.cli_helpers import clean_environment, run  # noqa: F401  (autouse fixture)
from voicebot.interview.plan import load_job
from voicebot.store import Store


def pdf_text(path: Path) -> str:
    """The PDF's text without spaces (extraction spaces some fonts' glyphs apart)."""
    return "".join("".join(p.extract_text() or "" for p in PdfReader(path).pages).split())


@pytest.fixture
def config(tmp_path: Path) -> Path:
    job = load_job(JOBS / "backend-engineer.yaml")

    async def setup() -> None:
        store = await Store.open(tmp_path / "v.db")
        try:
            await candidate_call(store, job, STRONG, "call-7", name="Ann Lee")
        finally:
            await store.close()

    asyncio.run(setup())
    path = tmp_path / "voicebot.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "v.db"}"\n')
    return path


def test_pdf_has_the_candidates_name_and_versions_are_kept(config: Path, tmp_path: Path) -> None:
    pdf = tmp_path / "out" / "report.pdf"
    pdf.parent.mkdir()
    job = JOBS / "backend-engineer.yaml"
    result = run("report", "call-7", "--job", job, "--pdf", pdf, "-c", config)

    assert result.exit_code == 0, result.output
    assert result.stdout == ""  # a file was asked for: no JSON dump on the terminal
    assert pdf.read_bytes().startswith(b"%PDF")
    text = pdf_text(pdf)
    assert "AnnLee" in text and "BackendEngineer" in text and "Transcript" in text

    rescored = run("report", "call-7", "--rescore", "--json", "-", "-c", config)
    assert rescored.exit_code == 0, rescored.output
    html = tmp_path / "v1.html"
    old = run("report", "call-7", "--version", "1", "--html", html, "-c", config)
    assert old.exit_code == 0, old.output
    assert "v1 of" in html.read_text()
    missing = run("report", "call-7", "--version", "9", "-c", config)
    assert missing.exit_code == 2 and "no report version 9" in missing.stderr
    both = run("report", "call-7", "--version", "1", "--rescore", "-c", config)
    assert both.exit_code == 2 and "--rescore" in both.stderr


def test_unwritable_pdf_is_one_line(config: Path, tmp_path: Path) -> None:
    job = JOBS / "backend-engineer.yaml"
    result = run("report", "call-7", "--job", job, "--pdf", tmp_path / "no" / "r.pdf", "-c", config)
    assert result.exit_code == 2
    assert result.stderr.startswith("voicebot: ") and len(result.stderr.splitlines()) == 1
