"""Jobs and interview plans: what a job asks and measures, loaded from YAML and validated, and
the ordered plan one call works through, personalised from the candidate's résumé.

Every mistake in a job file is one `JobError` naming the file, the line and the field
(`backend-engineer.yaml:42: questions[2].competencies[0]: 'problem_solvng' is not a
competency of this job; did you mean 'problem_solving'?`), so HR can fix it without reading
code. The format is documented by example in `examples/jobs/backend-engineer.yaml`.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from voicebot.safeload import DocumentError, load_yaml

QUESTION_KINDS = ("open", "salary", "notice", "years", "yes_no", "choice", "behavioral")
VALUE_TYPES = ("money", "duration", "years", "yes_no", "choice")
KIND_EXPECTS = {
    "salary": "money",
    "notice": "duration",
    "years": "years",
    "yes_no": "yes_no",
    "choice": "choice",
}
AUDIENCES = ("any", "experienced", "graduate")
PERIODS = ("year", "month", "week", "day", "hour")
DEFAULT_MINUTES = {"behavioral": 2.5, "open": 1.5}  # structured questions: 0.5
GRADUATE_YEARS = 1.0  # at most this many years of experience → a fresh graduate

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LOCALE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
_ISO_DURATION = re.compile(
    r"^P(?:(\d+(?:\.\d+)?)Y)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)W)?"
    r"(?:(\d+(?:\.\d+)?)D)?$"
)


class JobError(ValueError):
    """A job definition a person must fix; the message names the file, line and field."""

    def __init__(self, source: str, field: str, why: str, line: int | None = None) -> None:
        at = f"{source}:{line}" if line else source
        super().__init__(f"{at}: {field}: {why}" if field else f"{at}: {why}")
        self.source = source
        self.field = field
        self.why = why
        self.line = line


# -- the job ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyPhrase:
    """An idea the competency looks for, and other words a candidate may say it with."""

    phrase: str
    synonyms: tuple[str, ...] = ()

    @property
    def forms(self) -> tuple[str, ...]:
        return (self.phrase, *self.synonyms)


@dataclass(frozen=True, slots=True)
class Feature:
    """One observable behaviour that a level-5 answer shows (the rubric's checklist)."""

    id: str
    text: str


@dataclass(frozen=True, slots=True)
class Competency:
    id: str
    name: str
    description: str = ""
    weight: float = 1.0  # normalised: a job's weights sum to 1
    key_phrases: tuple[KeyPhrase, ...] = ()
    anchors: Mapping[int, str] = field(default_factory=dict)  # level (1, 3, 5 ...) -> example
    # level 4 = a level-3 story plus two of these, level 5 = all; empty: derived from anchors
    level5_features: tuple[Feature, ...] = ()


@dataclass(frozen=True, slots=True)
class Knockout:
    """A rule that flags an answer for HR (never rejects): value above/below a limit, or is X."""

    op: str  # "above" | "below" | "is"
    value: float | str  # a number, "band_max" (money), days (duration), "yes"/"no"/a choice
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SalaryBand:
    min: float
    max: float
    currency: str = "USD"
    period: str = "year"


@dataclass(frozen=True, slots=True)
class Level:
    id: str
    name: str
    min_years: float = 0.0
    min_score: float | None = None
    salary: SalaryBand | None = None


@dataclass(frozen=True, slots=True)
class MustHaves:
    min_years_experience: float | None = None
    skills: tuple[str, ...] = ()  # all required
    education: tuple[str, ...] = ()  # any of; empty = no requirement


EDUCATION_LADDER = ("high_school", "associate", "bachelor", "master", "phd")
# Chinese and English names of each level, highest first: a text naming two ("本科/硕士",
# "Bachelor's and Master's") is the higher one. 研究生 alone is a master's student or holder.
_EDUCATION_WORDS = (
    ("phd", re.compile(r"博士|\bph\.?\s?d\b|\bdphil\b|doctor|\bd\.?sc\b|\bdr\b")),
    ("master", re.compile(
        r"硕士|研究生|master|\bm\.?\s?(?:sc|s|a|eng|phil|res)\b\.?|\bmba\b|\bmfa\b|\bllm\b"
    )),
    ("bachelor", re.compile(
        r"本科|学士|bachelor|undergraduate|\bb\.?\s?(?:sc|s|a|eng|tech)\b\.?|\bllb\b"
    )),
    ("associate", re.compile(r"大专|专科|高职|associate|\bhnd\b|foundation degree")),
    ("high_school", re.compile(r"高中|中专|职高|技校|high\s?school|secondary school|\bged\b")),
)  # fmt: skip


def education_level(text: str | None) -> str | None:
    """The `EDUCATION_LADDER` level a résumé's education names (本科 and "Bachelor of
    Science" are both bachelor), or None when it names none."""
    if not text:
        return None
    key = " ".join(text.casefold().replace("’", "'").split())
    if key.replace(" ", "_") in EDUCATION_LADDER:
        return key.replace(" ", "_")
    return next((level for level, words in _EDUCATION_WORDS if words.search(key)), None)


def meets_education(have: str | None, wanted: Iterable[str]) -> bool:
    """A must-have `education: [bachelor]` is met by that level or any above it (本科, 硕士,
    "Master's degree"); a wanted value that is no level must be matched as written."""
    if not have:
        return False
    level = education_level(have)
    for want in wanted:
        need = education_level(want)
        if need is None:
            if have.casefold().strip() == want.casefold().strip():
                return True
        elif level is not None and EDUCATION_LADDER.index(level) >= EDUCATION_LADDER.index(need):
            return True
    return False


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: str
    kind: str = "open"
    competencies: tuple[str, ...] = ()
    expects: str | None = None  # a VALUE_TYPES entry for structured questions
    knockout: Knockout | None = None
    choices: tuple[str, ...] = ()
    audience: str = "any"  # "experienced" / "graduate": asked only for those candidates
    skill: str | None = None  # asked only when the résumé lists this skill
    required: bool = True  # False: asked only when the time budget allows
    minutes: float | None = None  # estimated time; None = by kind

    @property
    def estimated_minutes(self) -> float:
        if self.minutes is not None:
            return self.minutes
        return DEFAULT_MINUTES.get(self.kind, 0.5)

    @property
    def conditional(self) -> bool:
        return self.audience != "any" or self.skill is not None or not self.required


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    title: str
    company: str
    locale: str
    questions: list[Question]  # the unconditional interview, in file order
    summary: str = ""
    competencies: tuple[Competency, ...] = ()
    levels: tuple[Level, ...] = ()
    must_haves: MustHaves = field(default_factory=MustHaves)
    pass_threshold: float = 3.0
    time_budget_min: float | None = None
    experienced_years: float = 5.0
    prosody: bool = False  # the job opts in to prosody in scoring (compliance may still forbid)
    pool: tuple[Question, ...] = ()  # every question, conditional ones too, in file order

    @property
    def all_questions(self) -> tuple[Question, ...]:
        return self.pool or tuple(self.questions)

    def competency(self, competency_id: str) -> Competency | None:
        return next((c for c in self.competencies if c.id == competency_id), None)

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.all_questions if q.id == question_id), None)


@dataclass(frozen=True, slots=True)
class Resume:
    """The résumé fields the plan is personalised from."""

    years_experience: float | None = None
    education: str | None = None
    skills: tuple[str, ...] = ()
    current_title: str | None = None


@dataclass(frozen=True, slots=True)
class InterviewPlan:
    """What one call asks, in order, and why each question is in it."""

    job: Job
    questions: list[Question] = field(default_factory=list)
    reasons: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_job(cls, job: Job) -> InterviewPlan:
        return cls(job=job, questions=list(job.questions))

    @property
    def minutes(self) -> float:
        return sum(q.estimated_minutes for q in self.questions)


# -- the plan ----------------------------------------------------------------------------------


def candidate_profile(job: Job, resume: Resume | None) -> str:
    """ "experienced", "graduate" or "any": which audience's questions fit this résumé."""
    if resume is None:
        return "any"
    title = (resume.current_title or "").lower()
    if resume.years_experience is not None and resume.years_experience >= job.experienced_years:
        return "experienced"
    if (resume.years_experience is not None and resume.years_experience <= GRADUATE_YEARS) or any(
        w in title for w in ("graduate", "student", "intern")
    ):
        return "graduate"
    return "any"


def build_plan(job: Job, resume: Resume | None = None) -> InterviewPlan:
    """Choose and order the questions for one candidate, within the job's time budget.

    A question for the candidate's profile (experienced → the deeper question, fresh graduate →
    project and teamwork) replaces the general question on the same competencies; a question
    about a skill the résumé lists is added. Over budget, optional questions go first, then
    skill checks, then behavioural questions on the lightest competencies; required structured
    questions always stay. The plan keeps the job file's order.
    """
    profile = candidate_profile(job, resume)
    skills = {s.strip().lower() for s in (resume.skills if resume else ())}
    chosen: dict[str, str] = {}
    replaced: set[str] = set()
    pool = job.all_questions
    for q in pool:
        if q.audience != "any" and q.audience == profile and q.skill is None:
            chosen[q.id] = f"for {profile} candidates"
            replaced |= {
                o.id
                for o in pool
                if o.audience == "any"
                and o.competencies
                and set(o.competencies) <= set(q.competencies)
            }
    for q in pool:
        if q.audience != "any" or q.id in replaced:
            continue
        if q.skill is not None:
            if q.skill.lower() in skills:
                chosen[q.id] = f"checks the listed skill {q.skill}"
        elif q.required:
            chosen[q.id] = "core question"
        else:
            chosen[q.id] = "optional, fits the time budget"
    if job.time_budget_min is not None:
        _fit_budget(job, chosen, job.time_budget_min)
    questions = [q for q in pool if q.id in chosen]
    return InterviewPlan(job=job, questions=questions, reasons=chosen)


def _fit_budget(job: Job, chosen: dict[str, str], budget: float) -> None:
    """Drop the least important chosen questions until the plan fits `budget` minutes."""
    by_id = {q.id: q for q in job.all_questions}
    weight = {c.id: c.weight for c in job.competencies}

    def importance(q: Question) -> tuple[int, float]:
        if not q.required:
            return (0, 0.0)
        if q.skill is not None:
            return (1, 0.0)
        if q.competencies:
            return (2, sum(weight.get(c, 0.0) for c in q.competencies))
        return (3, 0.0)  # required structured questions stay

    total = sum(by_id[i].estimated_minutes for i in chosen)
    for q in sorted((by_id[i] for i in chosen), key=importance):
        if total <= budget or importance(q)[0] == 3:
            break
        del chosen[q.id]
        total -= q.estimated_minutes


# -- loading -----------------------------------------------------------------------------------


def load_job(path: str | Path) -> Job:
    """Read and validate one job file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise JobError(str(p), "", "file does not exist") from None
    return parse_job_yaml(data, source=str(p), default_id=p.stem)


def parse_job_yaml(text: str | bytes, source: str, default_id: str = "") -> Job:
    """Validate job YAML (or JSON) text; errors carry the line of the offending node. Read
    with `voicebot.safeload`'s limits (depth, aliases, duplicate keys, UTF-8)."""
    try:
        data, node = load_yaml(text, source)
    except DocumentError as e:
        raise JobError(source, "", e.why, e.line) from None
    return parse_job(data, source=source, default_id=default_id, lines=field_lines(node))


def field_lines(node: yaml.Node | None) -> dict[str, int]:
    """Field path (`questions[2].text`, `questions#key`) -> the line it is on."""
    lines: dict[str, int] = {}
    if node is not None:
        _node_lines(node, "", lines)
    return lines


def _node_lines(node: yaml.Node, path: str, out: dict[str, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = f"{path}.{key.value}" if path else str(key.value)
            out[f"{sub}#key"] = key.start_mark.line + 1
            _node_lines(value, sub, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _node_lines(item, f"{path}[{i}]", out)


class _Checker:
    """Field checks that raise `JobError` with the file, the line and the field."""

    def __init__(self, source: str, lines: Mapping[str, int]) -> None:
        self.source = source
        self.lines = lines

    def fail(self, where: str, why: str) -> JobError:
        return JobError(self.source, where, why, self._line(where))

    def _line(self, where: str) -> int | None:
        """The line of the field's key, or of its nearest enclosing node (a missing key's
        parent)."""
        if f"{where}#key" in self.lines:  # "competencies:" rather than its first item
            return self.lines[f"{where}#key"]
        probe = where
        while probe not in self.lines:
            if not probe:
                return None
            parent = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", probe)
            probe = "" if parent == probe else parent
        return self.lines[probe]

    def mapping(self, value: Any, where: str, known: Iterable[str], what: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected a mapping of {what}")
        known = list(known)
        for k in value:
            if k not in known:
                sub = f"{where}.{k}" if where else str(k)
                close = difflib.get_close_matches(str(k), known, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise self.fail(sub, f"unknown key; {hint}known keys: {', '.join(known)}")
        return value

    def text(self, data: Mapping[str, Any], key: str, where: str, required: bool = True) -> str:
        """A string field with its whitespace folded (YAML block scalars read as one line)."""
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(where, "required")
            return ""
        if isinstance(value, int | float) and not isinstance(value, bool) and not required:
            value = str(value)
        if not isinstance(value, str):
            raise self.fail(where, f"expected text, got {value!r}")
        text = " ".join(value.split())
        if required and not text:
            raise self.fail(where, "must not be empty")
        return text

    def number(
        self,
        data: Mapping[str, Any],
        key: str,
        where: str,
        *,
        default: float | None = None,
        low: float | None = None,
        high: float | None = None,
    ) -> float | None:
        value = data.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(where, f"expected a number, got {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{low if low is not None else '-inf'}..{high if high is not None else 'inf'}"
            raise self.fail(where, f"{value} is outside {bounds}")
        return float(value)

    def words(self, data: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
        value = data.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(where, "expected a list of text")
        out = []
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, str | int | float):
                raise self.fail(f"{where}[{i}]", f"expected text, got {item!r}")
            if not str(item).strip():
                raise self.fail(f"{where}[{i}]", "must not be empty")
            out.append(" ".join(str(item).split()))
        return tuple(out)

    def ident(self, value: str, where: str) -> str:
        if not _ID.match(value):
            raise self.fail(where, f"{value!r} must be letters, digits, _ - or .")
        return value

    def choice(self, value: str, options: Iterable[str], where: str, what: str) -> str:
        options = list(options)
        if value not in options:
            close = difflib.get_close_matches(value, options, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise self.fail(where, f"{value!r} is not {what} ({', '.join(options)}){hint}")
        return value


_JOB_KEYS = (
    "id",
    "title",
    "company",
    "locale",
    "summary",
    "time_budget_min",
    "pass_threshold",
    "experienced_years",
    "prosody",
    "competencies",
    "levels",
    "must_haves",
    "questions",
)
_QUESTION_KEYS = (
    "id",
    "text",
    "kind",
    "expects",
    "competencies",
    "knockout",
    "choices",
    "for",
    "skill",
    "required",
    "minutes",
)


def parse_job(
    data: Any, source: str, default_id: str = "", lines: Mapping[str, int] | None = None
) -> Job:
    """Validate a job already parsed from YAML or JSON; `source` names it in errors, `lines`
    (field path → line, from `parse_job_yaml`) adds the line."""
    ck = _Checker(source, lines or {})
    if not isinstance(data, Mapping):
        raise ck.fail("", "expected a mapping of job fields at the top level")
    ck.mapping(data, "", _JOB_KEYS, "job fields")
    job_id = ck.text(data, "id", "id", required=not default_id) or default_id
    ck.ident(job_id, "id")
    locale = ck.text(data, "locale", "locale", required=False) or "en"
    if not _LOCALE.match(locale):
        raise ck.fail("locale", f"{locale!r} is not a locale such as 'en' or 'zh'")
    prosody = data.get("prosody", False)
    if not isinstance(prosody, bool):
        raise ck.fail("prosody", f"expected true or false, got {prosody!r}")
    competencies = _competencies(ck, data.get("competencies"))
    levels = _levels(ck, data.get("levels"))
    pool = _questions(ck, data.get("questions"), competencies, levels)
    threshold = ck.number(data, "pass_threshold", "pass_threshold", default=3.0, low=1, high=5)
    budget = ck.number(data, "time_budget_min", "time_budget_min", low=0.5)
    experienced = ck.number(data, "experienced_years", "experienced_years", default=5.0, low=0)
    return Job(
        id=job_id,
        title=ck.text(data, "title", "title"),
        company=ck.text(data, "company", "company"),
        locale=locale,
        questions=[q for q in pool if not q.conditional],
        summary=ck.text(data, "summary", "summary", required=False),
        competencies=competencies,
        levels=levels,
        must_haves=_must_haves(ck, data.get("must_haves")),
        pass_threshold=threshold if threshold is not None else 3.0,
        time_budget_min=budget,
        experienced_years=experienced if experienced is not None else 5.0,
        prosody=prosody,
        pool=tuple(pool),
    )


def _competencies(ck: _Checker, items: Any) -> tuple[Competency, ...]:
    if items is None:
        return ()
    if not isinstance(items, list) or not items:
        raise ck.fail("competencies", "expected a non-empty list of competencies")
    out: list[Competency] = []
    for i, item in enumerate(items):
        where = f"competencies[{i}]"
        ck.mapping(
            item,
            where,
            ("id", "name", "description", "weight", "key_phrases", "anchors", "level5_features"),
            "competency fields",
        )
        cid = ck.ident(ck.text(item, "id", f"{where}.id"), f"{where}.id")
        if any(c.id == cid for c in out):
            raise ck.fail(f"{where}.id", f"duplicate competency id {cid!r}")
        weight = ck.number(item, "weight", f"{where}.weight", low=0)
        if weight is None:
            raise ck.fail(f"{where}.weight", "required")
        out.append(
            Competency(
                id=cid,
                name=ck.text(item, "name", f"{where}.name"),
                description=ck.text(item, "description", f"{where}.description", required=False),
                weight=weight,
                key_phrases=_key_phrases(ck, item.get("key_phrases"), f"{where}.key_phrases"),
                anchors=_anchors(ck, item.get("anchors"), f"{where}.anchors"),
                level5_features=_features(
                    ck, item.get("level5_features"), f"{where}.level5_features"
                ),
            )
        )
    total = sum(c.weight for c in out)
    scale = 1.0 if abs(total - 1.0) <= 0.011 else 100.0 if abs(total - 100.0) <= 0.5 else None
    if scale is None:
        listed = " + ".join(f"{c.weight:g}" for c in out)
        raise ck.fail(
            "competencies", f"weights sum to {listed} = {total:g}; they must sum to 1 (or 100)"
        )
    return tuple(dataclasses.replace(c, weight=c.weight / total) for c in out)


def _key_phrases(ck: _Checker, items: Any, where: str) -> tuple[KeyPhrase, ...]:
    if items is None:
        raise ck.fail(where, "required: the ideas a good answer mentions")
    if not isinstance(items, list) or not items:
        raise ck.fail(where, "expected a non-empty list of key phrases")
    out = []
    for i, item in enumerate(items):
        sub = f"{where}[{i}]"
        if isinstance(item, str):
            out.append(KeyPhrase(" ".join(item.split())))
            continue
        ck.mapping(item, sub, ("phrase", "synonyms"), "phrase and synonyms")
        out.append(
            KeyPhrase(
                ck.text(item, "phrase", f"{sub}.phrase"),
                ck.words(item, "synonyms", f"{sub}.synonyms"),
            )
        )
    return tuple(out)


def _features(ck: _Checker, items: Any, where: str) -> tuple[Feature, ...]:
    if items is None:
        return ()
    if not isinstance(items, list) or not items:
        raise ck.fail(where, "expected a list of {id, text}: what a level-5 answer shows")
    out: list[Feature] = []
    for i, item in enumerate(items):
        sub = f"{where}[{i}]"
        ck.mapping(item, sub, ("id", "text"), "feature fields")
        fid = ck.ident(ck.text(item, "id", f"{sub}.id"), f"{sub}.id")
        if any(f.id == fid for f in out):
            raise ck.fail(f"{sub}.id", f"duplicate feature id {fid!r}")
        out.append(Feature(fid, ck.text(item, "text", f"{sub}.text")))
    if len(out) < 2:
        raise ck.fail(where, "at least 2 features: level 4 needs two of them")
    return tuple(out)


def _anchors(ck: _Checker, items: Any, where: str) -> dict[int, str]:
    if items is None:
        raise ck.fail(where, "required: example answers for levels 1, 3 and 5")
    if not isinstance(items, Mapping):
        raise ck.fail(where, "expected a mapping of level (1-5) to an example answer")
    out: dict[int, str] = {}
    for key in items:
        # JSON (the HTTP API) can only send string keys: "3" means level 3
        level = int(key) if isinstance(key, str) and key.strip().isdigit() else key
        if isinstance(level, bool) or level not in (1, 2, 3, 4, 5):
            raise ck.fail(f"{where}.{key}", f"{key!r} is not a level 1-5")
        out[level] = ck.text(items, key, f"{where}.{key}")
    missing = [lv for lv in (1, 3, 5) if lv not in out]
    if missing:
        raise ck.fail(where, f"missing example answers for level(s) {missing}; 1, 3 and 5 needed")
    return dict(sorted(out.items()))


def _levels(ck: _Checker, items: Any) -> tuple[Level, ...]:
    if items is None:
        return ()
    if not isinstance(items, list) or not items:
        raise ck.fail("levels", "expected a non-empty list of levels")
    out = []
    for i, item in enumerate(items):
        where = f"levels[{i}]"
        ck.mapping(item, where, ("id", "name", "min_years", "min_score", "salary"), "level fields")
        lid = ck.ident(ck.text(item, "id", f"{where}.id"), f"{where}.id")
        salary = None
        if item.get("salary") is not None:
            s = ck.mapping(
                item["salary"],
                f"{where}.salary",
                ("min", "max", "currency", "period"),
                "salary band fields",
            )
            low = ck.number(s, "min", f"{where}.salary.min", low=0)
            high = ck.number(s, "max", f"{where}.salary.max", low=0)
            if low is None or high is None:
                raise ck.fail(f"{where}.salary", "min and max are required")
            if low > high:
                raise ck.fail(f"{where}.salary", f"min {low:g} is above max {high:g}")
            currency = (ck.text(s, "currency", f"{where}.salary.currency", False) or "USD").upper()
            period = ck.text(s, "period", f"{where}.salary.period", False) or "year"
            ck.choice(period, PERIODS, f"{where}.salary.period", "a pay period")
            salary = SalaryBand(low, high, currency, period)
        out.append(
            Level(
                id=lid,
                name=ck.text(item, "name", f"{where}.name"),
                min_years=ck.number(item, "min_years", f"{where}.min_years", default=0, low=0)
                or 0.0,
                min_score=ck.number(item, "min_score", f"{where}.min_score", low=1, high=5),
                salary=salary,
            )
        )
    return tuple(out)


def _must_haves(ck: _Checker, data: Any) -> MustHaves:
    if data is None:
        return MustHaves()
    ck.mapping(data, "must_haves", ("min_years_experience", "skills", "education"), "must-haves")
    return MustHaves(
        min_years_experience=ck.number(
            data, "min_years_experience", "must_haves.min_years_experience", low=0
        ),
        skills=ck.words(data, "skills", "must_haves.skills"),
        education=ck.words(data, "education", "must_haves.education"),
    )


def _questions(
    ck: _Checker, items: Any, competencies: tuple[Competency, ...], levels: tuple[Level, ...]
) -> list[Question]:
    if items is None:
        raise ck.fail("questions", "required")
    if not isinstance(items, list) or not items:
        raise ck.fail("questions", "expected a non-empty list of questions")
    known_competencies = [c.id for c in competencies]
    questions: list[Question] = []
    for i, item in enumerate(items):
        where = f"questions[{i}]"
        if not isinstance(item, Mapping):
            raise ck.fail(where, "expected a mapping with id and text")
        ck.mapping(item, where, _QUESTION_KEYS, "question fields")
        qid = ck.ident(ck.text(item, "id", f"{where}.id"), f"{where}.id")
        if any(q.id == qid for q in questions):
            raise ck.fail(f"{where}.id", f"duplicate question id {qid!r}")
        kind = ck.text(item, "kind", f"{where}.kind", required=False) or "open"
        ck.choice(kind, QUESTION_KINDS, f"{where}.kind", "a question kind")
        text = ck.text(item, "text", f"{where}.text")
        expects = ck.text(item, "expects", f"{where}.expects", required=False) or None
        if expects is not None:
            ck.choice(expects, VALUE_TYPES, f"{where}.expects", "a value type")
        expects = expects or KIND_EXPECTS.get(kind)
        comps = ck.words(item, "competencies", f"{where}.competencies")
        for j, cid in enumerate(comps):
            if cid not in known_competencies:
                close = difflib.get_close_matches(cid, known_competencies, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                known = ", ".join(known_competencies) or "none defined"
                raise ck.fail(
                    f"{where}.competencies[{j}]",
                    f"{cid!r} is not a competency of this job{hint} (known: {known})",
                )
        if kind == "behavioral" and competencies and not comps:
            raise ck.fail(f"{where}.competencies", "required: which competencies this answer shows")
        choices = ck.words(item, "choices", f"{where}.choices")
        if expects == "choice" and not choices:
            raise ck.fail(f"{where}.choices", "required for a choice question")
        audience = ck.text(item, "for", f"{where}.for", required=False) or "any"
        ck.choice(audience, AUDIENCES, f"{where}.for", "an audience")
        required = item.get("required", True)
        if not isinstance(required, bool):
            raise ck.fail(f"{where}.required", f"expected true or false, got {required!r}")
        questions.append(
            Question(
                id=qid,
                text=text,
                kind=kind,
                competencies=comps,
                expects=expects,
                knockout=_knockout(
                    ck, item.get("knockout"), f"{where}.knockout", expects, choices, levels
                ),
                choices=choices,
                audience=audience,
                skill=ck.text(item, "skill", f"{where}.skill", required=False) or None,
                required=required,
                minutes=ck.number(item, "minutes", f"{where}.minutes", low=0.1, high=30),
            )
        )
    return questions


def _knockout(
    ck: _Checker,
    data: Any,
    where: str,
    expects: str | None,
    choices: tuple[str, ...],
    levels: tuple[Level, ...],
) -> Knockout | None:
    if data is None:
        return None
    if expects is None:
        raise ck.fail(
            where,
            "only structured questions (money, duration, years, yes/no, "
            "choice) can have a knock-out rule",
        )
    ck.mapping(data, where, ("above", "below", "is", "reason"), "one of above/below/is + reason")
    ops = [op for op in ("above", "below", "is") if op in data]
    if len(ops) != 1:
        raise ck.fail(where, "give exactly one of above, below or is")
    op = ops[0]
    raw = data[op]
    reason = ck.text(data, "reason", f"{where}.reason", required=False)
    sub = f"{where}.{op}"
    if op == "is":
        if expects not in ("yes_no", "choice"):
            raise ck.fail(sub, "'is' applies to yes/no and choice questions")
        value = {True: "yes", False: "no"}.get(raw, raw) if isinstance(raw, bool) else str(raw)
        options = ("yes", "no") if expects == "yes_no" else choices
        ck.choice(value, options, sub, "an answer this question can get")
        return Knockout(op, value, reason)
    if expects in ("yes_no", "choice"):
        raise ck.fail(sub, f"{expects} questions take 'is', not {op!r}")
    if expects == "money" and op == "above" and raw == "band_max":
        if not any(lv.salary for lv in levels):
            raise ck.fail(sub, "band_max needs levels with salary bands")
        return Knockout(op, "band_max", reason)
    if expects == "duration":
        days = _duration_days(raw)
        if days is None:
            raise ck.fail(sub, f"{raw!r} is not a duration such as P90D, P3M or 90 (days)")
        return Knockout(op, days, reason)
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        hint = " or band_max" if expects == "money" and op == "above" else ""
        raise ck.fail(sub, f"expected a number{hint}, got {raw!r}")
    return Knockout(op, float(raw), reason)


def _duration_days(raw: Any) -> float | None:
    """P90D / P3M / P2W / P1Y (or a bare number of days) as days."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int | float):
        return float(raw)
    m = _ISO_DURATION.match(str(raw).strip().upper())
    if not m or not any(m.groups()):
        return None
    y, mo, w, d = (float(g) if g else 0.0 for g in m.groups())
    return y * 365 + mo * 30 + w * 7 + d
