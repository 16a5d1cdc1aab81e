"""Scoring an interview: evidence behind every score, recommendation, level and band,
knock-out flags that flag rather than reject, compliance modes, determinism."""

from dataclasses import replace

import pytest
from scoring_data import STRONG, WEAK, interview_turns

from voicebot.interview.plan import Job, Resume
from voicebot.scoring.score import RECOMMENDATIONS, score_answer, score_interview


def test_same_interview_scored_twice_gives_the_same_report(backend_job: Job) -> None:
    turns = interview_turns(backend_job, STRONG)
    first = score_interview(backend_job, turns, call_id="c1").to_dict()
    second = score_interview(backend_job, [dict(t) for t in turns], call_id="c1").to_dict()
    assert first == second


def test_every_competency_score_quotes_the_candidate(backend_job: Job) -> None:
    turns = interview_turns(backend_job, STRONG)
    report = score_interview(backend_job, turns).to_dict()
    said = " ".join(t["text"] for t in turns if t["speaker"] == "candidate")

    scored = [c for c in report["competencies"] if c["score"] is not None]
    assert {c["id"] for c in scored} == {"problem_solving", "ownership"}
    for c in scored:
        assert 1 <= c["score"] <= 5 and c["max"] == 5
        assert c["evidence"] and all(e in said for e in c["evidence"])
        assert c["explanation"]
    # collaboration was not asked in the unconditional interview: no made-up score
    assert report["overall"]["not_assessed"] == ["collaboration"]
    # the transcript marks the quoted sentences on the turn they came from
    marked = [e for t in report["transcript"] for e in t["evidence"]]
    assert set(marked) >= set(scored[0]["evidence"])


def test_strong_candidate_outscores_weak_one(backend_job: Job) -> None:
    strong = score_interview(backend_job, interview_turns(backend_job, STRONG)).to_dict()
    weak = score_interview(backend_job, interview_turns(backend_job, WEAK)).to_dict()

    assert strong["overall"]["score"] > weak["overall"]["score"] + 1.5
    assert strong["overall"]["recommendation"] in ("strong_yes", "yes")
    assert weak["overall"]["recommendation"] in ("no", "definitely_not")
    assert set(RECOMMENDATIONS) >= {strong["overall"]["recommendation"]}


def test_structured_answers_are_typed(backend_job: Job) -> None:
    report = score_interview(backend_job, interview_turns(backend_job, STRONG)).to_dict()
    s = report["structured"]
    assert (s["salary"]["amount"], s["salary"]["period"]) == (90000, "year")
    assert (s["notice"]["iso"], s["notice"]["days"]) == ("P4W", 28)
    assert s["python_years"]["years"] == 6


def test_level_and_band_follow_years_and_score(backend_job: Job) -> None:
    report = score_interview(backend_job, interview_turns(backend_job, STRONG)).to_dict()
    assert report["suggested_level"]["id"] == "senior"  # 6 years and a strong score
    assert report["salary_band"] == {
        "level": "senior",
        "min": 105000,
        "max": 140000,
        "currency": "USD",
        "period": "year",
    }
    fewer = dict(STRONG, python_years="Four years.")
    mid = score_interview(backend_job, interview_turns(backend_job, fewer)).to_dict()
    assert mid["suggested_level"]["id"] == "mid"


def test_knockouts_flag_for_a_person_and_never_reject(backend_job: Job) -> None:
    answers = dict(
        STRONG,
        python_years="Four years.",
        salary="I want 150,000 dollars a year.",
        notice="Six months.",
    )
    report = score_interview(backend_job, interview_turns(backend_job, answers)).to_dict()

    flags = {f["question_id"]: f for f in report["knockouts"]}
    assert flags["salary"]["status"] == "flagged" and flags["salary"]["value"] == 150000
    assert flags["notice"]["value"] == 180
    assert "python_years" not in flags  # 4 >= 2
    # the candidate is still scored; a person decides
    assert report["overall"]["score"] >= 3.0
    assert report["overall"]["recommendation"] == "no_decision"
    assert "knock-out" in report["overall"]["explanation"]
    assert report["compliance"]["human_review_required"] is True


def test_salary_per_month_is_compared_per_year_and_unclear_is_flagged(backend_job: Job) -> None:
    monthly = dict(STRONG, salary="About 7,000 dollars a month.")  # 84k a year: inside the band
    report = score_interview(backend_job, interview_turns(backend_job, monthly)).to_dict()
    assert not [f for f in report["knockouts"] if f["question_id"] == "salary"]

    vague = dict(STRONG, salary="Whatever is fair.")
    report = score_interview(backend_job, interview_turns(backend_job, vague)).to_dict()
    (flag,) = [f for f in report["knockouts"] if f["question_id"] == "salary"]
    assert flag["status"] == "unclear"


def test_must_haves_from_the_resume(backend_job: Job) -> None:
    turns = interview_turns(backend_job, STRONG)
    report = score_interview(backend_job, turns, resume=Resume(skills=("go",))).to_dict()
    assert any(
        f["rule"] == "must_haves.skills" and f["value"] == ["python"] for f in report["knockouts"]
    )


def test_eu_mode_never_uses_prosody_and_requires_review(backend_job: Job) -> None:
    job = replace(backend_job, prosody=True)
    turns = interview_turns(job, STRONG)
    prosody = {
        i: {"energy_std_db": 9.0, "pitch_std_semitones": 3.0}
        for i, t in enumerate(turns)
        if t["speaker"] == "candidate"
    }

    plain = score_interview(job, turns).to_dict()
    opted = score_interview(job, turns, prosody=prosody).to_dict()
    eu = score_interview(job, turns, prosody=prosody, compliance="eu").to_dict()
    not_opted = score_interview(backend_job, turns, prosody=prosody).to_dict()

    assert opted["compliance"]["prosody_used"] is True
    assert "pitch_std_semitones" in opted["delivery"]["curve"][0]
    for r in (eu, not_opted):
        assert r["compliance"]["prosody_used"] is False
        assert all("pitch_std_semitones" not in p for p in r["delivery"]["curve"])
    assert eu["compliance"]["human_review_required"] is True
    assert "reviews every assessment" in eu["feedback"]["text"]
    # prosody never moves a competency score
    for r in (opted, eu, not_opted):
        assert [c["score"] for c in r["competencies"]] == [
            c["score"] for c in plain["competencies"]
        ]


def test_pipl_mode_explains_every_score_and_offers_review(backend_job: Job) -> None:
    report = score_interview(
        backend_job, interview_turns(backend_job, STRONG), compliance="pipl", consent=True
    ).to_dict()
    assert all(c["explanation"] for c in report["competencies"])
    assert all(a["explanation"] for a in report["answers"])
    assert report["compliance"]["candidate_may_request_review"] is True
    assert "ask for a person to review" in report["feedback"]["text"]
    us = score_interview(
        backend_job, interview_turns(backend_job, STRONG), compliance="us", consent=True
    ).to_dict()
    assert us["compliance"]["consent_logged"] is True and us["compliance"]["consent"] is True
    with pytest.raises(ValueError, match="gdpr"):
        score_interview(backend_job, [], compliance="gdpr")


def test_feedback_in_the_candidate_locale_without_raw_scores(zh_job: Job) -> None:
    answers = {
        "production_fix": "去年支付服务上线后报错率升到百分之五。"
        "我对比了监控和日志，定位到根本原因是新版本的依赖，"
        "马上回滚，错误率降到千分之一以下，还加了测试防止再次发生。",
        "teamwork": "我喜欢一个人做事。别人不同意的时候，我还是按自己的方式来。",
    }
    report = score_interview(zh_job, interview_turns(zh_job, answers)).to_dict()
    fb = report["feedback"]
    assert fb["locale"] == "zh" and "感谢" in fb["text"]
    assert any("问题解决" in s for s in fb["strengths"])
    assert any("团队协作" in s for s in fb["areas_to_develop"])
    assert fb["scores"] == [] and "/ 5" not in fb["text"]
    shown = score_interview(zh_job, interview_turns(zh_job, answers), feedback_scores=True)
    assert "/ 5" in shown.to_dict()["feedback"]["text"]


def test_buzzword_list_is_not_a_story(backend_job: Job) -> None:
    story = score_answer(backend_job, "problem_solving", STRONG["production_fix"])
    buzz = score_answer(
        backend_job,
        "problem_solving",
        "Root cause, logs, metrics, rollback, monitoring, reproduce, prevent.",
    )
    assert buzz.score < 2.5 < story.score
    with pytest.raises(KeyError, match="leadership"):
        score_answer(backend_job, "leadership", "I led a team.")


class FixedRater:
    """Stands in for the LLM rater: a fixed checklist, or None (failed, timed out)."""

    def __init__(self, level: int | None) -> None:
        self.level = level
        self.calls = 0

    def rate(self, text: str, competency: object, lang: str) -> dict | None:
        self.calls += 1
        if self.level is None:
            return None
        return {
            "level": self.level,
            "rule": "the model's level",
            "explanation": "one story, every feature",
            "specific_situation": True,
            "own_actions": [text.split(".")[0]],
            "about_competency": True,
            "level5_features": [],
            "counter_evidence": [],
            "weak_behaviour": [],
        }


def test_another_rater_rates_when_it_answers_and_the_rules_when_it_fails(
    backend_job: Job,
) -> None:
    turns = interview_turns(backend_job, STRONG)
    llm = score_interview(backend_job, turns, rater=FixedRater(5)).to_dict()
    assert {a["level"] for a in llm["answers"]} == {5}
    assert all(
        a["checklist"]["rater"] == "llm" and "LLM rater" in a["explanation"] for a in llm["answers"]
    )
    failed = FixedRater(None)
    fallback = score_interview(backend_job, turns, rater=failed).to_dict()
    assert failed.calls == len(fallback["answers"])
    assert fallback == score_interview(backend_job, turns).to_dict()
