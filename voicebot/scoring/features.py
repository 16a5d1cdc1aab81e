"""What an answer's text shows, measured: key-phrase coverage, closeness to the rating-scale
anchors, STAR structure, specificity, hedging; and delivery from the turn's timing (words per
minute, fillers, response latency).

English is matched on lightly stemmed words; Chinese, which has no spaces, on characters and
character pairs. Everything is plain Python and numpy, deterministic, and fast enough to
score a 15-minute interview in milliseconds.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from voicebot.interview.plan import Competency, KeyPhrase
from voicebot.scoring.values import numbers

_CJK = re.compile(r"[\u3400-\u9fff]")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])\s*")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

STOPWORDS = frozenset(
    """a an the and or but so of to in on at for with from by as is was were be been it its
    this that these those i me my we our you your he she they them their his her there here
    then than when what which who how did do does had has have not no yes just very really
    about into out up down over after before all some any can could would should will""".split()
)
FILLERS_EN = ("um", "uh", "er", "erm", "hmm", "uhm", "you know", "i mean", "sort of", "kind of")
FILLERS_ZH = ("嗯", "呃", "那个", "就是说", "然后呢")


def is_chinese(text: str, lang: str | None = None) -> bool:
    if lang:
        return lang.lower().startswith("zh")
    cjk = len(_CJK.findall(text))
    return cjk > 0 and cjk >= len(_WORD.findall(text.lower()))


def sentences(text: str) -> list[str]:
    """The answer's sentences as spoken (kept verbatim: the report quotes them)."""
    parts = [p.strip() for p in _SENTENCE_END.split(text.strip())]
    return [p for p in parts if p]


def stem(word: str) -> str:
    """A light English stemmer: enough that "traced", "tracing" and "traces" meet."""
    for suffix in ("ingly", "edly", "ing", "ied", "ies", "ed", "es", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if suffix in ("ied", "ies"):
                word += "y"
            break
    if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
        word = word[:-1]  # "stopped" → "stopp" → "stop"
    return word.rstrip("e") if len(word) > 4 else word


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("’", "'"))


def terms(text: str, chinese: bool) -> list[str]:
    """Content terms for similarity: stemmed words (English) or characters + pairs (Chinese)."""
    if chinese:
        chars = _CJK.findall(text)
        pairs = [a + b for a, b in itertools.pairwise(chars)]
        latin = [stem(w) for w in words(text) if w not in STOPWORDS]
        return chars + pairs + latin
    return [stem(w) for w in words(text) if w not in STOPWORDS]


def _stems(text: str) -> list[str]:
    return [stem(w) for w in words(text)]


def phrase_in(phrase: str, text_stems: list[str], text_raw: str, chinese: bool) -> bool:
    if chinese or _CJK.search(phrase):
        return phrase.replace(" ", "") in text_raw.replace(" ", "")
    target = _stems(phrase)
    if not target:
        return False
    n = len(target)
    return any(text_stems[i : i + n] == target for i in range(len(text_stems) - n + 1))


# -- cues --------------------------------------------------------------------------------------

_PAST_VERBS = (
    r"\w{3,}ed|took|made|wrote|found|ran|built|led|set|put|told|kept|went|got|saw|chose|"
    r"brought|sent|did|began|spoke|met|gave|heard|paired|rolled|pulled|changed|added|checked|"
    r"compared|shipped|fixed|moved|owned|took|stopped|split|rewrote|dug|sat|called|knew|"
    r"realised|realized|caught|understood|thought|cut|ran"
)
STAR_EN = {
    "situation": re.compile(
        r"\b(last|this|that) (year|month|week|spring|summer|autumn|fall|winter|quarter|"
        r"morning)\b|\bin (19|20)\d\d\b|\bat my (last|previous|current|old|first) "
        r"(job|company|team|role|employer)\b|\b(once|one (day|time|morning|night|week))\b|"
        r"\bduring\b|\bthere (was|were)\b|\bwe had\b|\b(our|the|my|a) [a-z ]{1,25} "
        r"(was|were|went|started|stopped|kept|had|fell|jumped|failed|crashed|broke)\b|"
        r"\bin my (university|school|college|last|previous)\b|\bwhen (i|we|the|our)\b"
    ),
    "task": re.compile(
        r"\b(i was (responsible|on call|asked|in charge|the owner|leading)|my (job|task|role|"
        r"part|responsibility|code|change)|i (needed|had) to|the goal|asked me to|"
        r"it was my|i owned|nobody was|it wasn't assigned|i volunteered)\b"
    ),
    "action": re.compile(rf"\b(i|i then|then i|so i|and i) ({_PAST_VERBS})\b"),
    "result": re.compile(
        r"\b(as a result|after that|since then|afterwards|went (back|down|up)|dropped|"
        r"reduced|improved|increased|decreased|saved|resolved|back up|back to|"
        r"(\d+|zero|no) (more|repeat|longer)|worked again|settled it|"
        r"never (lost|had|happened)|from [\w .,]+ to |percent|in the end|early|"
        r"on time|stopped|within)\b|%"
    ),
}
STAR_ZH = {
    "situation": re.compile(r"有一次|去年|上次|之前|当时|那次|上线后|有位|在.{0,8}(公司|项目)"),
    "task": re.compile(r"负责|我的任务|需要我|目标|值班"),
    "action": re.compile(
        r"我(们)?.{0,4}(查|看了|发现|对比|复现|改|加了|回滚|请|听取|写|定位|结对|商量|找|用|给)"
    ),
    "result": re.compile(r"结果|降到|降回|降低|提升|之后|以后|再没|顺利|提前|从.{1,12}到|百分之"),
}
HEDGE_EN = re.compile(
    r"\b(i would|i'd|i will|if (a|i|there|something|we)|usually|in general|you should|"
    r"i always)\b"
)
HEDGE_ZH = re.compile(r"如果|我会|一般|总是")
PRAISE_EN = re.compile(
    r"\b(i am|i'm) (very |really |a )?(good|great|strong|responsible|team player|"
    r"hard[- ]working|person)|\bteam player\b"
)
PRAISE_ZH = re.compile(r"能力很强|很好的团队成员")
DEFLECT_EN = re.compile(
    r"\b(not my (area|job|problem)|their job|don't (really )?(remember|have)|not sure|"
    r"never had to|prefer to work alone|my way|left it to|blame)\b"
)
DEFLECT_ZH = re.compile(r"不太记得|一个人做事|按自己的方式")
FIRST_PERSON_EN = re.compile(r"\b(i|my|me|i'm|i've)\b")
FIRST_PERSON_ZH = re.compile(r"我(?!们)")


def in_first_person(sentence: str) -> bool:
    """The candidate speaks of their own part ("I traced", "我定位"), not only "we"."""
    return bool(FIRST_PERSON_ZH.search(sentence) or FIRST_PERSON_EN.search(sentence.lower()))


@dataclass
class SentenceSignal:
    text: str
    phrases: list[str] = field(default_factory=list)
    star: list[str] = field(default_factory=list)
    numbers: int = 0
    listy: bool = False

    @property
    def weight(self) -> float:
        if self.listy:
            return 0.0
        return len(self.phrases) + len(self.star) + min(self.numbers, 2)


@dataclass
class AnswerFeatures:
    words: int
    chinese: bool
    matched: list[str]  # key phrases shown (canonical phrase text)
    coverage: float  # 0..1
    anchor_similarity: dict[int, float]
    anchor_level: float | None
    star: dict[str, bool]
    numbers: int
    first_person: float  # share of clauses/words in the first person singular
    hedging: bool
    praise: bool
    deflecting: bool
    sentences: list[SentenceSignal]


def _listy(sentence: str, chinese: bool) -> bool:
    """A run of bare keywords ("Latency, root cause, logs, metrics.") rather than a story."""
    parts = [p for p in re.split(r"[,、，]", sentence) if p.strip()]
    if len(parts) < 4:
        return False
    sizes = [len(_CJK.findall(p)) / 2.0 if chinese else len(words(p)) for p in parts]
    return float(np.median(sizes)) <= 2.5


def analyse(text: str, competency: Competency, lang: str | None = None) -> AnswerFeatures:
    chinese = is_chinese(text, lang)
    star_cues = STAR_ZH if chinese else STAR_EN
    signals: list[SentenceSignal] = []
    matched: list[str] = []
    star = dict.fromkeys(star_cues, False)
    count_numbers = 0
    for sent in sentences(text):
        low = sent.lower()
        sig = SentenceSignal(sent, listy=_listy(sent, chinese))
        stems = _stems(low)
        for kp in competency.key_phrases:
            if any(phrase_in(form.lower(), stems, low, chinese) for form in kp.forms):
                sig.phrases.append(kp.phrase)
        for part, cue in star_cues.items():
            if cue.search(low):
                sig.star.append(part)
        sig.numbers = len(numbers(sent))
        if not sig.listy:
            for p in sig.phrases:
                if p not in matched:
                    matched.append(p)
            for part in sig.star:
                star[part] = True
            count_numbers += sig.numbers
        signals.append(sig)
    if chinese:
        size = len(_CJK.findall(text)) // 2 + len(words(text))
        first = len(FIRST_PERSON_ZH.findall(text)) / max(1, len(signals))
    else:
        size = len(words(text))
        first = len(FIRST_PERSON_EN.findall(text.lower())) / max(1, len(signals))
    sims = anchor_similarity(text, competency, chinese)
    return AnswerFeatures(
        words=size,
        chinese=chinese,
        matched=matched,
        coverage=min(1.0, len(matched) / max(1, min(4, len(competency.key_phrases)))),
        anchor_similarity=sims,
        anchor_level=_anchor_level(sims),
        star=star,
        numbers=count_numbers,
        first_person=min(1.0, first / 1.5),
        hedging=bool((HEDGE_ZH if chinese else HEDGE_EN).search(text.lower())),
        praise=bool((PRAISE_ZH if chinese else PRAISE_EN).search(text.lower())),
        deflecting=bool((DEFLECT_ZH if chinese else DEFLECT_EN).search(text.lower())),
        sentences=signals,
    )


def _vector(counts: Counter[str], vocab: dict[str, int], idf: np.ndarray) -> np.ndarray:
    v = np.zeros(len(vocab))
    for term, n in counts.items():
        if term in vocab:
            v[vocab[term]] = 1.0 + np.log(n)
    v *= idf
    norm = float(np.linalg.norm(v))
    return v / norm if norm else v


def anchor_similarity(text: str, competency: Competency, chinese: bool) -> dict[int, float]:
    """Cosine similarity (tf-idf over the anchors) of the answer to each anchor example."""
    docs = {level: Counter(terms(a, chinese)) for level, a in competency.anchors.items()}
    if not docs:
        return {}
    vocab = {t: i for i, t in enumerate(sorted(set().union(*docs.values())))}
    df = np.zeros(len(vocab))
    for counts in docs.values():
        for t in counts:
            df[vocab[t]] += 1
    idf = np.log((1 + len(docs)) / (1 + df)) + 1.0
    answer = _vector(Counter(terms(text, chinese)), vocab, idf)
    return {level: round(float(answer @ _vector(c, vocab, idf)), 4) for level, c in docs.items()}


def _anchor_level(sims: dict[int, float]) -> float | None:
    if not sims:
        return None
    levels = np.array(sorted(sims), dtype=float)
    s = np.array([max(0.0, sims[int(lv)]) for lv in levels]) ** 2
    if s.sum() <= 1e-9:
        return None
    return float((levels * s).sum() / s.sum())


# -- delivery ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """How an answer was delivered. Reported for HR; never part of a competency score."""

    words_per_minute: float | None
    fillers: int
    latency_s: float | None  # the bot's question ended → the candidate started


def count_fillers(text: str, chinese: bool) -> int:
    if chinese:
        return sum(text.count(f) for f in FILLERS_ZH)
    low = f" {' '.join(words(text))} "
    return sum(low.count(f" {f} ") for f in FILLERS_EN)


def delivery(
    text: str,
    started_at: float,
    ended_at: float,
    question_ended_at: float | None,
    chinese: bool,
) -> Delivery:
    size = len(_CJK.findall(text)) if chinese else len(words(text))
    seconds = ended_at - started_at
    wpm = round(size / seconds * 60.0, 1) if seconds > 0.5 else None
    latency = None
    if question_ended_at is not None:
        latency = round(max(0.0, started_at - question_ended_at), 2)
    return Delivery(wpm, count_fillers(text, chinese), latency)


def keyword_counts(texts: list[str], phrases: list[KeyPhrase], chinese: bool) -> Counter[str]:
    """How often each key phrase (any of its forms) was said over the interview."""
    counts: Counter[str] = Counter()
    for text in texts:
        low = text.lower()
        stems = _stems(low)
        for kp in phrases:
            if any(phrase_in(f.lower(), stems, low, chinese) for f in kp.forms):
                counts[kp.phrase] += 1
    return counts
