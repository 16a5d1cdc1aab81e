"""Job files: the example loads; every mistake is reported with the file and the field."""

from pathlib import Path

import pytest

from voicebot.interview.plan import InterviewPlan, JobError, Question, load_job

EXAMPLE_JOB = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "backend-engineer.yaml"

GOOD = """\
title: Backend Engineer
company: Acme Corp
questions:
  - id: salary
    kind: salary
    text: What are your salary expectations?
  - id: notice
    kind: notice
    text: What is your notice period?
  - id: story
    text: Tell me about a hard bug.
"""


def write(tmp_path: Path, text: str, name: str = "backend-engineer.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_example_job_loads_in_order() -> None:
    job = load_job(EXAMPLE_JOB)

    assert (job.id, job.title, job.company, job.locale) == (
        "backend-engineer",
        "Backend Engineer",
        "Acme Corp",
        "en",
    )
    assert [q.kind for q in job.questions] == ["salary", "notice", "years", "behavioral"]
    assert "production problem" in job.questions[3].text
    assert "\n" not in job.questions[3].text and "\n" not in job.summary


def test_plan_keeps_the_job_order(tmp_path: Path) -> None:
    job = load_job(write(tmp_path, GOOD))
    plan = InterviewPlan.from_job(job)

    assert plan.job is job
    assert [q.id for q in plan.questions] == ["salary", "notice", "story"]
    assert plan.questions[2] == Question("story", "Tell me about a hard bug.", "open")
    assert plan.questions is not job.questions


def test_defaults(tmp_path: Path) -> None:
    job = load_job(write(tmp_path, GOOD))

    assert job.id == "backend-engineer"  # from the file name
    assert job.locale == "en" and job.summary == ""
    assert job.competencies == () and job.pass_threshold == 3.0


@pytest.mark.parametrize(
    "text, error",
    [
        (GOOD, None),
        (
            GOOD.replace("text: Tell me about a hard bug.", "kind: open"),
            "backend-engineer.yaml:10: questions[2].text: required",
        ),
        (
            GOOD.replace("id: notice\n    kind", "kind"),
            "backend-engineer.yaml:7: questions[1].id: required",
        ),
        (
            GOOD.replace("id: notice", "id: salary"),
            ":7: questions[1].id: duplicate question id 'salary'",
        ),
        (
            GOOD.replace("kind: notice", "kind: availability"),
            ":8: questions[1].kind: 'availability' is",
        ),
        (
            GOOD.replace("kind: salary", "knd: salary"),
            ":5: questions[0].knd: unknown key; did you mean 'kind'?",
        ),
        (
            GOOD.replace("text: What is your notice period?", "text: ''"),
            "questions[1].text: must not",
        ),
        (
            GOOD.replace("text: What is your notice period?", "text: 42"),
            "questions[1].text: expected",
        ),
        (GOOD.replace("title: Backend Engineer\n", ""), "backend-engineer.yaml:1: title: required"),
        (GOOD.replace("company: Acme Corp", "company: [Acme]"), "company: expected text"),
        (GOOD + "locale: English\n", "locale: 'English' is not a locale"),
        (GOOD.split("questions:")[0], "backend-engineer.yaml:1: questions: required"),
        (GOOD.split("questions:")[0] + "questions: []\n", "questions: expected a non-empty list"),
        (
            GOOD.split("questions:")[0] + "questions:\n  - just text\n",
            "questions[0]: expected a mapping",
        ),
        ("- a list\n", "expected a mapping of job fields"),
        ("title: [unclosed\n", "backend-engineer.yaml:2: not valid YAML"),
    ],
)
def test_mistakes_name_the_file_and_field(tmp_path: Path, text: str, error: str | None) -> None:
    path = write(tmp_path, text)
    if error is None:
        load_job(path)
        return
    with pytest.raises(JobError) as raised:
        load_job(path)
    assert str(path) in str(raised.value)
    assert error in str(raised.value)


def test_error_carries_the_field(tmp_path: Path) -> None:
    with pytest.raises(JobError) as raised:
        load_job(write(tmp_path, GOOD.replace("id: notice\n    kind", "kind")))
    assert raised.value.field == "questions[1].id"
    assert raised.value.why == "required"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(JobError, match=r"nope\.yaml: file does not exist"):
        load_job(tmp_path / "nope.yaml")
