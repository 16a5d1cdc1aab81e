"""The full job format (competencies, levels, knock-outs) and the personalised plan."""

from pathlib import Path

import pytest
import yaml

from voicebot.interview.plan import JobError, Resume, build_plan, load_job, parse_job

JOBS = Path(__file__).resolve().parents[2] / "examples" / "jobs"

JOB = """\
title: Backend Engineer
company: Acme Corp
time_budget_min: 20
competencies:
  - id: problem_solving
    name: Problem solving
    weight: 0.6
    key_phrases:
      - phrase: root cause
        synonyms: [traced]
    anchors: {1: I restart things., 3: I read the logs and fixed it., 5: I traced it and fixed it.}
  - id: collaboration
    name: Collaboration
    weight: 0.4
    key_phrases: [team]
    anchors: {1: I work alone., 3: We had a meeting., 5: We agreed on an experiment.}
levels:
  - id: mid
    name: Engineer
    salary: {min: 80000, max: 100000}
questions:
  - id: salary
    kind: salary
    text: What are your salary expectations?
    knockout: {above: band_max}
  - id: fix
    kind: behavioral
    competencies: [problem_solving]
    text: Tell me about a production problem you fixed.
  - id: fix_deep
    kind: behavioral
    for: experienced
    competencies: [problem_solving]
    text: Tell me about the hardest incident you led.
  - id: school
    kind: behavioral
    for: graduate
    competencies: [collaboration]
    text: Tell me about a team project.
  - id: k8s
    skill: kubernetes
    competencies: [problem_solving]
    text: Why would a pod keep restarting?
  - id: permit
    kind: yes_no
    required: false
    text: Can you work here without sponsorship?
    knockout: {is: no, reason: needs sponsorship}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "job.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_jobs_load_with_their_competency_model() -> None:
    job = load_job(JOBS / "backend-engineer.yaml")
    zh = load_job(JOBS / "backend-engineer-zh.yaml")

    assert [c.id for c in job.competencies] == ["problem_solving", "ownership", "collaboration"]
    assert sum(c.weight for c in job.competencies) == pytest.approx(1.0)
    assert sorted(job.competencies[0].anchors) == [1, 3, 5]
    assert [lv.id for lv in job.levels] == ["junior", "mid", "senior"]
    salary = job.question("salary")
    assert salary is not None and salary.expects == "money"
    assert salary.knockout is not None and salary.knockout.value == "band_max"
    notice = job.question("notice")
    assert notice is not None and notice.knockout is not None and notice.knockout.value == 90
    assert job.must_haves.skills == ("python",)
    # the unconditional interview is unchanged; conditional questions wait for build_plan
    assert [q.id for q in job.questions] == ["salary", "notice", "python_years", "production_fix"]
    assert zh.locale == "zh" and [c.weight for c in zh.competencies] == [0.6, 0.4]


@pytest.mark.parametrize(
    "old, new, error",
    [
        (
            "time_budget_min: 20",
            "time_budgt_min: 20",
            "job.yaml:3: time_budgt_min: unknown key; did you mean 'time_budget_min'?",
        ),
        (
            "    weight: 0.4",
            "    wieght: 0.4",
            "job.yaml:14: competencies[1].wieght: unknown key; did you mean 'weight'?",
        ),
        (
            "    weight: 0.4",
            "    weight: 0.3",
            "job.yaml:4: competencies: weights sum to 0.6 + 0.3 = 0.9; they must sum to 1 (or 100)",
        ),
        (
            "    competencies: [problem_solving]\n    text: Tell me about a production",
            "    competencies: [problem_solvng]\n    text: Tell me about a production",
            "job.yaml:28: questions[1].competencies[0]: 'problem_solvng' is not a competency of "
            "this job; did you mean 'problem_solving'?",
        ),
        (
            "    knockout: {is: no, reason: needs sponsorship}",
            "    knockout: {is: maybe}",
            "job.yaml:48: questions[5].knockout.is: 'maybe' is not an answer",
        ),
        (
            "    knockout: {above: band_max}",
            "    knockout: {below: band_max}",
            "questions[0].knockout.below: expected a number, got 'band_max'",
        ),
        (
            "    for: graduate",
            "    for: graduates",
            "job.yaml:37: questions[3].for: 'graduates' is"
            " not an audience (any, experienced, graduate); did you mean 'graduate'?",
        ),
        (
            "anchors: {1: I work alone., 3: We had a meeting., 5: We agreed on an experiment.}",
            "anchors: {1: I work alone., 3: We had a meeting.}",
            "job.yaml:16: competencies[1].anchors: missing example answers for level(s) [5]",
        ),
        (
            "    salary: {min: 80000, max: 100000}",
            "    salary: {min: 120000, max: 100000}",
            "levels[0].salary: min 120000 is above max 100000",
        ),
        (
            "    competencies: [problem_solving]\n    text: Tell me about a production",
            "    text: Tell me about a production",
            "questions[1].competencies: required: which competencies",
        ),
        (
            "  - id: collaboration\n",
            "  - id: problem_solving\n",
            "job.yaml:12: competencies[1].id: duplicate competency id 'problem_solving'",
        ),
        (
            "    text: Tell me about a production problem you fixed.",
            "    text: Tell me about a production problem you fixed.\n    knockout: {below: 2}",
            "questions[1].knockout: only structured questions",
        ),
        (
            "anchors: {1: I work alone.,",
            "anchors: {7: Off the scale., 1: I work alone.,",
            "job.yaml:16: competencies[1].anchors.7: 7 is not a level 1-5",
        ),
        (
            "salary: {min: 80000, max: 100000}",
            "salary: {min: 80000, max: 100000, period: yaer}",
            "job.yaml:20: levels[0].salary.period: 'yaer' is not a pay period (year, month, "
            "week, day, hour); did you mean 'year'?",
        ),
        (
            "    key_phrases: [team]\n",
            "",
            "job.yaml:12: competencies[1].key_phrases: required",
        ),
        (
            "    key_phrases: [team]\n",
            "    key_phrases: [team]\n    level5_features:\n      - {id: listened, txt: Asked.}\n",
            "competencies[1].level5_features[0].txt: unknown key",
        ),
        (
            "    key_phrases: [team]\n",
            "    key_phrases: [team]\n    level5_features: [{id: listened, text: Asked.}]\n",
            "competencies[1].level5_features: at least 2 features",
        ),
    ],
)
def test_each_mistake_is_one_error_naming_line_and_field(
    tmp_path: Path, old: str, new: str, error: str
) -> None:
    assert old in JOB
    with pytest.raises(JobError) as raised:
        load_job(write(tmp_path, JOB.replace(old, new, 1)))
    assert error in str(raised.value)
    assert str(tmp_path) in str(raised.value)


def test_level5_features_are_the_competencys_checklist(tmp_path: Path) -> None:
    features = (
        "    level5_features:\n"
        '      - {id: listened, text: "asked for the other view, and understood it"}\n'
        "      - id: agreed\n        text: decided together on evidence\n"
    )
    job = load_job(
        write(
            tmp_path,
            JOB.replace("    key_phrases: [team]\n", "    key_phrases: [team]\n" + features),
        )
    )
    collab = job.competency("collaboration")
    assert collab is not None
    assert [(f.id, f.text) for f in collab.level5_features] == [
        ("listened", "asked for the other view, and understood it"),
        ("agreed", "decided together on evidence"),
    ]
    assert job.competency("problem_solving").level5_features == ()  # type: ignore[union-attr]


def test_weights_may_sum_to_100(tmp_path: Path) -> None:
    job = load_job(write(tmp_path, JOB.replace("0.6", "60").replace("0.4", "40")))
    assert [c.weight for c in job.competencies] == [0.6, 0.4]


def test_plan_without_resume_asks_the_general_questions(tmp_path: Path) -> None:
    job = load_job(write(tmp_path, JOB))
    plan = build_plan(job)
    assert [q.id for q in plan.questions] == ["salary", "fix", "permit"]
    assert plan.reasons["permit"].startswith("optional")


def test_experienced_candidate_gets_the_deeper_question(tmp_path: Path) -> None:
    job = load_job(write(tmp_path, JOB))
    plan = build_plan(job, Resume(years_experience=9))
    assert [q.id for q in plan.questions] == ["salary", "fix_deep", "permit"]


def test_fresh_graduate_gets_a_team_project_question(tmp_path: Path) -> None:
    job = load_job(write(tmp_path, JOB))
    for resume in (Resume(years_experience=0), Resume(current_title="Graduate student")):
        assert [q.id for q in build_plan(job, resume).questions] == [
            "salary",
            "fix",
            "school",
            "permit",
        ]


def test_a_listed_skill_gets_a_question_that_checks_it(tmp_path: Path) -> None:
    job = load_job(write(tmp_path, JOB))
    plan = build_plan(job, Resume(years_experience=3, skills=("Python", "Kubernetes")))
    assert [q.id for q in plan.questions] == ["salary", "fix", "k8s", "permit"]
    assert "kubernetes" in plan.reasons["k8s"]


def test_time_budget_drops_optional_then_skill_questions_never_structured(tmp_path: Path) -> None:
    resume = Resume(years_experience=0, skills=("kubernetes",))
    full = build_plan(load_job(write(tmp_path, JOB)), resume)
    assert [q.id for q in full.questions] == ["salary", "fix", "school", "k8s", "permit"]
    assert full.minutes == 0.5 + 2.5 + 2.5 + 1.5 + 0.5

    tight = load_job(write(tmp_path, JOB.replace("time_budget_min: 20", "time_budget_min: 5.5")))
    plan = build_plan(tight, resume)
    assert [q.id for q in plan.questions] == ["salary", "fix", "school"]
    assert plan.minutes <= 5.5

    tiny = load_job(write(tmp_path, JOB.replace("time_budget_min: 20", "time_budget_min: 1")))
    assert [q.id for q in build_plan(tiny, resume).questions] == ["salary"]


def test_anchor_levels_sent_as_json_strings_are_levels() -> None:
    """The HTTP API receives JSON, whose keys are always strings: "1" is level 1."""
    data = yaml.safe_load(JOB)
    for comp in data["competencies"]:
        comp["anchors"] = {str(k): v for k, v in comp["anchors"].items()}

    job = parse_job(data, source="api", default_id="be")

    assert sorted(job.competencies[0].anchors) == [1, 3, 5]
    data["competencies"][0]["anchors"]["7"] = "Too high."
    with pytest.raises(JobError, match=r"anchors.7: '7' is not a level 1-5"):
        parse_job(data, source="api", default_id="be")
