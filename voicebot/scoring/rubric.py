"""The rules of behaviourally anchored rating, applied to one answer for one competency.

What an answer is reads off its clauses: does it tell one specific past episode, which clauses
are the candidate's own actions ("I traced…", "我复现了…"), is it about the competency asked,
which of the competency's level-5 features it shows, and whether it shows counter-evidence
(blame, temper, going it alone) or only weak behaviour (escalated, someone else's fix). The
level then follows the rules, not a weighted sum of keywords:

- 1: counter-evidence without insight; claims, slogans or keyword lists; off topic.
- 2: a concrete general approach ("I would…", "I always…"), a "we" story with no own part,
  weak behaviour, or an off-topic story with a little real evidence.
- 3: one specific situation with the candidate's own actions, on topic.
- 4: level 3 plus at least two level-5 features; 5: all of them.

Delivery never enters: fillers are removed first, and no rule looks at length, vocabulary or
grammar (a dropped verb ending is still an action). Key phrases and numbers count only inside
the candidate's own story, never in a list. Meaning comes from `semantic.py`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voicebot.interview.plan import Competency, Feature
from voicebot.scoring import cues, semantic
from voicebot.scoring.features import is_chinese
from voicebot.scoring.features import words as _words

# Global decision thresholds on centred cosines (the only tuned numbers; the same for every
# competency and language, fitted leave-one-competency-out by scripts/bench_scoring.py).
PARAMS: dict[str, float] = {
    "words": 2,  # …or says this many of the feature's own content words, as an own action
    "relevance": 0.04,  # answer closer to the competency than to anything else, by this
    "story_relevance": 0.08,  # …and a story this much closer, unless two features show it is
}

MAX_CLAUSES_CHECKED = 6
RELEVANCE_WORDS = 70
_CJK = re.compile(r"[\u3400-\u9fff]")

# -- cleaning: delivery is not evidence ---------------------------------------------------------

_FILLERS_EN = re.compile(
    r"(?<![\w'])(?:u+m+|u+h+|e+r+m*|hmm+|uhm|ah+)(?![\w'])[,.]?\s*|"
    r"(?:,\s*|\b)(?:you know|i mean|like|sort of|kind of|basically|actually)\s*,\s*",
    re.IGNORECASE,
)
_FILLERS_ZH = re.compile(r"[嗯呃啊哦]+[，,。]?|(?:那个|这个|就是说|就是|然后呢)(?=[，,。\s])[，,]?")
_REPEAT = re.compile(r"\b(\w+)(?:\s+\1\b)+", re.IGNORECASE)


def clean(text: str) -> str:
    text = " ".join(text.replace("’", "'").split())
    text = _FILLERS_ZH.sub("", _FILLERS_EN.sub(" ", text))
    return " ".join(_REPEAT.sub(r"\1", text).split()).strip(" ,")


# -- cues ---------------------------------------------------------------------------------------

_SENTENCE_EN = re.compile(r"(?<=[.!?])\s+")
_CLAUSE_EN = re.compile(
    r"\s*(?:[;:]|,?\s+(?:and then|and so|but then|after that|afterwards|so that)\s+|"
    r",\s*(?:and|but|so|then|because|which|until|while|although)\s+|,(?!\d)\s*|"
    r"\s+(?:and|but|so|then)\s+(?=(?:i|we|he|she|they|it|the|my|our|his|her|their)\b))\s*",
    re.IGNORECASE,
)
_SENTENCE_ZH = re.compile(r"(?<=[。！？!?])")
_CLAUSE_ZH = re.compile(r"[，,；;：:]")

_LEAD_EN = {
    "and",
    "then",
    "so",
    "but",
    "also",
    "later",
    "finally",
    "first",
    "next",
    "afterwards",
    "after",
    "that",
    "because",
    "when",
    "once",
    "since",
    "eventually",
    "together",
    "well",
    "ok",
    "okay",
    "yes",
    "yeah",
    "honestly",
    "right",
    "immediately",
    "quickly",
    "personally",
    "just",
    "still",
    "even",
    "again",
    "straight",
    "away",
    "instead",
    "in",
    "the",
    "end",
    "within",
    "an",
    "hour",
    "same",
    "day",
    "morning",
    "week",
    "at",
    "on",
    "of",
}
_I = {"i", "i'm", "i've", "i'd", "i'll", "myself"}
_WE = {"we", "we're", "we've", "we'd", "we'll", "us"}
_OTHER = {"he", "she", "they", "you", "he's", "she's", "they're", "you're"}
_THING = {"it", "this", "that", "there", "everything", "nothing", "things", "errors", "it's"}
_PEOPLE = re.compile(
    r"^(?:my|our|the|a|his|her|their|one|another)\s+(?:\w+\s+)?(manager|lead|boss|colleague|"
    r"teammate|coworker|co-worker|supervisor|director|engineer|customer|client|senior|team|"
    r"architect|friend|partner|vendor|agent|rep|people|staff|ops|support|tester|qa|developer|"
    r"group|client|caller|mentor|tutor|designer)s?\b"
)
# what follows "I" when it is not an action: modality, habit, stance, a state
_MODAL_WORDS = set("would 'd will 'll can could should might may must".split())
_HABIT_WORDS = set("always usually normally generally typically often sometimes tend".split())
_STANCE_EN = set(
    """am 'm is are was were be think believe feel know like love enjoy prefer hope want guess
    suppose have 've had never don't do wish mean care get need consider see""".split()
)
_NOT_ACTION = _MODAL_WORDS | _HABIT_WORDS | _STANCE_EN | {"try", "really", "not", "also", "just"}
_ADVERBS = set("then first also just finally even personally still immediately".split())
# skipped on the way to the verb of anything the candidate does, in any mood
_SKIP_EN = (
    _MODAL_WORDS
    | _HABIT_WORDS
    | _ADVERBS
    | set("try to really quickly basically actually probably definitely simply".split())
)
# habit and modality of the candidate's own doing ("I usually…", "if I…", "I would…"), not of
# reported speech ("I told her it would take three days", "it's usually in a box outside")
_HABIT_EN = re.compile(
    r"\b(i|we)( \w+)? (usually|always|normally|generally|typically|often|sometimes|tend to|"
    r"try to|like to)\b|^(\w+ ){0,2}(usually|always|normally|generally|typically|whenever|"
    r"every time|each time|in general|most of the time|as a rule|often)\b|\bmy approach\b|"
    r"\bthe key is\b|\b(is|are) (very |so |really )?important\b"
)
_MODAL_EN = re.compile(
    r"\b(i|we|you) (would|should|will|might|could) (\w+ )?(?!have\b)\w+|\b(i'd|we'd|i'll|we'll)\b|"
    r"\bif (i|we|you|a|an|the|there|something|someone|somebody|anything|things|it)\b|"
    r"\byou (have|need) to\b|\bwhenever\b"
)
_SENTENCE_HABIT_EN = re.compile(
    r"^(\w+ )?(usually|normally|generally|typically|whenever|every time|each time|"
    r"in general|most of the time|as a rule|if|when (something|a customer|a client|someone|"
    r"there is|things|it))\b"
)
_SENTENCE_HABIT_ZH = re.compile(r"^(嗯|那个|就是)?(一般|通常|平时|每次|如果|假如|要是|遇到)")
_ANCHOR_EN = re.compile(
    r"\b(once|one (time|day|morning|night|evening|afternoon|week|weekend|month|year|man|woman|"
    r"customer|client|guy|lady|caller|user|colleague|teammate)|(the )?next (morning|day|week|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday)|that (day|morning|week|night|"
    r"evening|afternoon)|in my (job|work|internship|role|time) (at|in|as|with)|in (our|my|the) "
    r"(capstone|final[- ]year|group|university|uni|school|college|first[- ]year|second[- ]year|"
    r"third[- ]year|team|last|first) ?(project|assignment|internship|placement)|(days?|weeks?|"
    r"months?) before (the |our |a )?(demo|launch|release|deadline|exam|presentation|go-live)|"
    r"last (year|month|week|spring|summer|autumn|fall|winter|quarter|sprint|christmas|time)|"
    r"yesterday|in (19|20)\d\d|(19|20)\d\d|at my (last|previous|old|first|current|former) "
    r"(job|company|role|team|internship|employer|work|position)|when i (was|worked|joined|started)|"
    r"a (few|couple of) (days|weeks|months|years) ago|\w+ (days|weeks|months|years) ago|"
    r"recently|there (was|were)|back in|during (my|the|a|our)|previous (job|company|role)|"
    r"this (year|spring|summer|autumn|winter|month)|on (monday|tuesday|wednesday|thursday|"
    r"friday|saturday|sunday)|my first (week|month|year|day)|in my (last|previous|first|old))\b"
)
_SPECIFIC_EN = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|hundred|thousand|"
    r"minutes?|hours?|days?|weeks?|months?|years?|since|that (day|time|night|week|customer|"
    r"client|project|bug|call|release|migration))\b"
)
_SPECIFIC_ZH = re.compile(r"\d|[一二两三四五六七八九十百千万]|那(个|位|次|天)|这(个|位|次)")
_IRREGULAR_PAST = set(
    """was were had did went came saw found took gave told made got said thought knew felt left
    kept brought bought sent spent built wrote ran began became broke chose drove fell forgot held
    led lost met paid put read rose set sold spoke stood taught understood won caught fought heard
    meant sat slept stuck threw woke wore dug hung rang shut split cut let hit quit rode sank
    swam tore""".split()
)
_ED_NOT_PAST = {"need", "feed", "seed", "speed", "bed", "red", "indeed", "shed", "proceed"}

_CLAIM_EN = re.compile(
    r"\b(i am|i'm|i consider myself)\s+(a |an |very |really |quite |extremely |always |highly )*"
    r"(good|great|strong|excellent|responsible|team player|hard[- ]?working|person|people person|"
    r"fast learner|quick learner|patient|calm|customer[- ]focused|passionate|motivated|"
    r"detail[- ]oriented|reliable|friendly|positive|natural|born)|"
    r"\b(is|are) (very |really |the most |so )?(important|key|essential|everything) (to|for) me\b|"
    r"\bteam player\b|\bpeople person\b|\bmy (strength|strong point)s? (is|are)\b"
)
_COUNTER_EN = re.compile(
    r"\b(blame[ds]?|blaming|(his|her|their|its)( own)? fault|(wasn't|was not|isn't|not) "
    r"(really )?my fault|nobody told me|(nothing|not much) to learn|some (people|customers|"
    r"clients|users) (just|simply)|people like (that|him|her|them)|aren't technical|"
    r"nothing to discuss|not my (job|problem|fault|area|"
    r"responsibility|department)|(that's|that is|that was|it's|it is|it was|was) their "
    r"(job|problem)|(stupid|idiot|idiots|lazy|useless|"
    r"incompetent|clueless|dumb)|shouted|yelled|screamed|lost my temper|hung up on|"
    r"i ignored|ignored (it|them|him|her|the feedback)|my way|don't need (feedback|help)|"
    r"never make mistakes|they were wrong|he was wrong|she was wrong|refused to|"
    r"told (him|her|them) (off|to stop)|gave up|walked out|argued with the customer|"
    r"not worth (it|my time)|left it to|i don't care|waste of (my )?time)\b"
)
# contempt counts whoever the sentence is about; the rest only as the candidate's own doing
_COUNTER_MORE_EN = re.compile(
    r"\b(not (really )?(my|our) (service|system|team|fault|problem|department|issue|job)|"
    r"\w+'s fault|muted (them|the alerts|it|the alarm)|went (back )?to sleep|i was right|"
    r"went with mine|blocked (his|her|their)|junior idea|a fad|"
    r"ended the call|told (her|him|them) to (call|ask|go to|find) (someone|somebody|her|his|"
    r"their|the|a)|didn't bother|wasn't worth)\b"
)
_COUNTER_MORE_ZH = re.compile(
    r"跟我们没关系|不是我们的(问题|事)|这是.{0,8}的问题|让(他|她)自己去|无理取闹|教不会|没必要|"
    r"都没改|不让(他们|她们|他|她)碰|水平太差|我是对的|用了我的"
)
# doing the team's work alone: counter-evidence only where the competency is about others
_SOLO_EN = re.compile(
    r"\b((did|wrote|rewrote|built|fixed|finished) (it|everything|the whole thing|all of it|all the "
    r"work|his part|her part|their part)( \w+)? (myself|alone|by myself|on my own)|wrote the \w+"
    r"( \w+)? myself|took it off (him|her|them))\b"
)
_SOLO_ZH = re.compile(
    r"我自己.{0,10}(写|做|干|弄)(完|好)了|自己(一个人)?(全|都)(做|干|弄)|一个人(写|做|干)完|"
    r"不让(他们|她们|他|她)碰"
)
_INSULT_EN = re.compile(
    r"\b(stupid|idiots?|lazy|useless|incompetent|clueless|dumb|aren't technical|some (people|"
    r"customers|clients|users|callers) (just|simply)|people like (that|him|her|them))\b"
)
_INSULT_ZH = re.compile(r"根本不懂|幼稚|废物|没用的|笨|懒|有些(人|客户)就是|脑子")
_INSIGHT_EN = re.compile(
    r"\b(i (learned|learnt|realised|realized|understood|apologi[sz]ed|should have|now see)|"
    r"looking back|in hindsight|since then i|now i (always|make sure|check|ask)|"
    r"i changed how|taught me|lesson)\b"
)
_WEAK_EN = re.compile(
    r"\b(escalated|passed it (on|to)|handed it (over|to|off)|asked (my|the|a|our) (manager|"
    r"lead|team lead|team leader|boss|supervisor|senior|colleague|tutor|teacher) to|(my|the|"
    r"a) (manager|lead|boss|senior|colleague|"
    r"teammate|supervisor|team lead) (fixed|solved|handled|took care|took over|sorted|dealt)|"
    r"went away (by itself|on its own)?|fixed itself|resolved itself|luckily|by luck|"
    r"i helped test|someone else|somebody else|just restarted|only restarted)\b"
)

_HABIT_ZH = re.compile(
    r"如果|假如|要是|一般|通常|总是|每次|经常|平时|都会|会先|我会|应该|习惯|往往|基本上"
)
_ANCHOR_ZH = re.compile(
    r"有一次|那次|那一次|去年|前年|上个?月|上周|上次|当时|那时|那天|之前在|以前在|上一家|上一份|"
    r"\d{2,4}年|[一二两三四五六七八九十几]+年前|刚入职|刚来|实习的时候|大学的时候|有个客户|"
    r"有位|有一位|有一天|有个同事|前段时间|前几天|后来|那会儿"
)
_PAST_ZH = re.compile(
    r"了|过|[查找降升改做写修搞弄听问谈]到|[查找发]现|改成|[做写修搞弄谈]完|修好|搞定|结果|"
    r"最后|之后"
)
_VERB_FIRST_ZH = re.compile(
    r"^(?:然后|后来|接着|于是|所以|就|又|再|先|马上|立刻|立即|还|也|最后|同时|并且|并|而且|之后|"
    r"当天|当场|第二天|赶紧|主动|亲自|一直|直接|都)*"
    r"[看查发加改回找问给跟打把用写做修定复对请听提联道解说告帮结拆搞弄跑测上推安开关重升降换设带约陪"
    r"教学读试收整挑选决确花主负接处通记建列安排分拿送陪挂等留讲讨商谈研排核算比录]"
)
_MODAL_ZH = re.compile(r"如果|假如|要是|我会|会先|应该")
_I_ZH = re.compile(r"我(?!们)")
_WE_ZH = re.compile(r"我们|团队|大家|咱们")
_OTHER_ZH = re.compile(r"^(他|她|他们|她们|领导|组长|经理|主管|同事|客户|老板|对方)")
_NOT_ACTION_ZH = re.compile(
    r"^我(?!们)(会|觉得|认为|是|很|非常|比较|一般|通常|总是|能|可以|应该|要|想|喜欢|希望|"
    r"不太|没有|也不|一直|相信|知道|擅长|对|在|有)"
)
_CLAIM_ZH = re.compile(
    r"能力(很|非常|特别)?强|很好的|我(很|非常|特别)(擅长|有耐心|细心|负责|专业)|团队成员|"
    r"对我(来说)?(很|非常)重要"
)
_COUNTER_ZH = re.compile(
    r"怪|根本不懂|幼稚|废物|没用的|不关我|有些(人|"
    r"客户)就是|(他|她|他们|她们|对方|客户)的(错|问题)|不是我的(问题|事"
    r"|责任|工作)|跟我(没|无)关|骂|吼|"
    r"发火|发脾气|懒|笨|按自己的方式|不听|都是他们|挂了.{0,4}电话|"
    r"不需要(反馈|帮助|别人)|浪费时间|不管了|放弃了"
)
_INSIGHT_ZH = re.compile(
    r"我意识到|我学到|我明白了|反思|以后我|后来我(都|会|每次)|道歉|我应该|教训"
)
_WEAK_ZH = re.compile(
    r"交给|上报|转给|(组长|领导|经理|主管|同事|老板)(处理|解决|修|搞定|弄好)|自己好了|运气|"
    r"帮忙测|重启一下"
)

# -- the analysis ---------------------------------------------------------------------------------


@dataclass
class Clause:
    text: str
    sentence: int
    agent: str  # "i", "we", "other", "none"
    action: bool  # the candidate's own action
    habit: bool  # would / always / usually / if …
    listy: bool  # a run of bare keywords
    claim: bool  # a self-description
    counter: bool
    insight: bool
    weak: bool
    past: int  # past-tense verbs in it (English)
    doing: bool = False  # the candidate (or "we") does something, whatever the tense or mood
    solo: bool = False  # did the others' part alone


def _listy(text: str, chinese: bool) -> bool:
    parts = [p for p in re.split(r"[,、，]", text) if p.strip()]
    if len(parts) < 3:
        return False
    sizes = [len(_CJK.findall(p)) / 2.0 if chinese else len(_words(p)) for p in parts]
    return float(np.median(sizes)) <= 2.5


def _split(text: str, chinese: bool) -> list[tuple[int, str]]:
    out: list[tuple[int, str]] = []
    if chinese:
        sents = [s for s in _SENTENCE_ZH.split(text) if s.strip()]
        for i, s in enumerate(sents):
            if _listy(s, True):
                out.append((i, s.strip(" 。！？!?")))
                continue
            out += [(i, c.strip(" 。！？!?")) for c in _CLAUSE_ZH.split(s) if c.strip(" 。！？!?")]
        return out
    sents = [s for s in _SENTENCE_EN.split(text) if s.strip()]
    for i, s in enumerate(sents):
        if _listy(s, False):
            out.append((i, s.strip()))
            continue
        out += [(i, c.strip(" ,.!?")) for c in _CLAUSE_EN.split(s) if c and c.strip(" ,.!?")]
    return out


def _agent_en(words: list[str], text: str) -> str | None:
    """Who acts in the clause: another person named first ("my manager asked…"), else the
    first pronoun ("when support reported it I fixed…" → I)."""
    m = _PEOPLE.match(" ".join(w for w in words if w not in _LEAD_EN))
    if m and not (set(words[:2]) & _I):
        team = m.group(1) == "team" and words[:2] in (["our", "team"], ["the", "team"])
        return "we" if team else "other"
    lead = [w for w in words if w not in _LEAD_EN]
    if lead and lead[0] in _THING:
        return "none"  # "…, and it has run every night since": a result, nobody's action
    if lead and (
        lead[0] in _IRREGULAR_PAST
        or lead[0] in _VERBS_EN
        or (lead[0].endswith("ed") and len(lead[0]) > 4)
    ):
        return None  # "…, rewrote it the way she showed me": the subject carries over
    for w in lead[:12]:
        if w in _I:
            return "i"
        if w in _WE:
            return "we"
        if w in _OTHER:
            return "other"
    return None


def _verb_after(words: list[str], pronouns: set[str], skip: set[str], window: int) -> str | None:
    """The first word after the first of `pronouns` that is not in `skip` (nor an -ly adverb)."""
    i = next((k for k, w in enumerate(words) if w in pronouns), None)
    if i is None:
        return None
    rest = [w for w in words[i + 1 : i + 1 + window] if w not in skip and not w.endswith("ly")]
    return rest[0] if rest else None


def _action_en(words: list[str]) -> bool:
    """The candidate did something ("I traced…", "I look the logs…"), not "I would / I am"."""
    if next((w for w in words if w in _I), None) in ("i'm", "i'd", "i'll"):
        return False  # am / would / will: a state or a plan
    verb = _verb_after(words, _I, _ADVERBS, 4)
    return verb is not None and verb not in _NOT_ACTION


_VERBS_EN = set(
    """ask call check find fix tell write make send look go take give put set add move book
    rang said told wrote asked called checked fixed sent looked moved booked explain explained
    offer offered keep kept stay stayed try tried run ran build built change reply replied
    show showed pair paired help helped""".split()
)
_STANCE_ZH = re.compile(
    r"^我(们)?(觉得|认为|是|很|非常|比较|挺|喜欢|希望|相信|知道|擅长|对|有|没有|不太|特别|一直是|"
    r"从来|永远)"
)


def _doing_en(words: list[str]) -> bool:
    """The candidate (or "we") does something, whatever the tense or mood ("I would check…")."""
    verb = _verb_after(words, _I | _WE, _SKIP_EN, 5)
    return verb is not None and verb not in _NOT_ACTION


def _past_count(words: list[str]) -> int:
    return sum(
        1
        for w in words
        if w in _IRREGULAR_PAST or (w.endswith("ed") and len(w) > 4 and w not in _ED_NOT_PAST)
    )


def analyse_clauses(text: str, chinese: bool) -> list[Clause]:
    out: list[Clause] = []
    prev_sentence, prev_agent, prev_habit, sentence_habit = -1, "none", False, False
    for si, c in _split(text, chinese):
        low = c.lower()
        listy = _listy(c, chinese)
        same = si == prev_sentence
        if not same:  # "Usually when…, I…" / "一般出了问题，我…": the whole sentence is a habit
            sentence_habit = bool(
                (_SENTENCE_HABIT_ZH if chinese else _SENTENCE_HABIT_EN).search(low)
            )
        if chinese:
            if _WE_ZH.search(c) and not _I_ZH.search(c):
                agent = "we"
            elif _I_ZH.search(c[:6]):
                agent = "i"
            elif _OTHER_ZH.search(c):
                agent = "other"
            elif _I_ZH.search(c):
                agent = "i"
            elif _VERB_FIRST_ZH.match(c):  # Chinese drops the subject: "我看了日志。发现…"
                agent = prev_agent if same or prev_agent == "i" else "none"
            else:  # "效率提升了…": a subject of its own, not a person
                agent = "none"
            explicit = bool(_I_ZH.search(c) or _WE_ZH.search(c) or _OTHER_ZH.search(c))
            stance = bool(_NOT_ACTION_ZH.search(c[c.find("我") :] if "我" in c else ""))
            habit = bool(_MODAL_ZH.search(c)) or (
                agent in ("i", "we") and bool(_HABIT_ZH.search(c))
            )
            habit = habit or sentence_habit or (same and prev_habit and not explicit)
            action = agent == "i" and not stance and not habit and not listy
            claim = bool(_CLAIM_ZH.search(c))
            counter, insight, weak = (
                bool(_INSULT_ZH.search(c))
                or (agent != "other" and bool(_COUNTER_ZH.search(c) or _COUNTER_MORE_ZH.search(c))),
                bool(_INSIGHT_ZH.search(c)),
                bool(_WEAK_ZH.search(c)),
            )
            solo = bool(_SOLO_ZH.search(c))
            me = c[c.find("我") :] if "我" in c else ""
            doing = (
                agent in ("i", "we")
                and not listy
                and not claim
                and not (me and _STANCE_ZH.search(me))
            )
            past = len(_PAST_ZH.findall(c))
        else:
            words = _words(low)
            found = _agent_en(words, low)
            agent = found or (prev_agent if same else "none")
            habit = bool(_MODAL_EN.search(low)) or (
                agent in ("i", "we") and bool(_HABIT_EN.search(low))
            )
            habit = habit or sentence_habit or (same and prev_habit and found is None)
            if found == "i":
                action = _action_en(words) and not habit
            else:  # "…, and fixed the encoding": the subject carries over
                action = agent == "i" and found is None and not habit and bool(words)
            action = action and not listy
            claim = bool(_CLAIM_EN.search(low))
            counter, insight, weak = (
                bool(_INSULT_EN.search(low))
                or (
                    agent != "other"
                    and bool(_COUNTER_EN.search(low) or _COUNTER_MORE_EN.search(low))
                ),
                bool(_INSIGHT_EN.search(low)),
                bool(_WEAK_EN.search(low)),
            )
            solo = bool(_SOLO_EN.search(low))
            doing = (
                agent in ("i", "we")
                and not listy
                and not claim
                and (_doing_en(words) if found else bool(words))
            )
            past = _past_count(words)
        out.append(
            Clause(
                c, si, agent, action, habit, listy, claim, counter, insight, weak, past, doing, solo
            )
        )
        prev_sentence, prev_agent, prev_habit = si, agent, habit
    return out


# -- the competency's side: embedded once per job --------------------------------------------------

# What else an answer could be about: life outside work, and the competencies interviews
# usually ask for. Each in both languages: a Chinese answer is compared with Chinese sentences.
_CONTRAST = (
    ("I ran a marathon and trained for months.", "我跑了一次马拉松，训练了好几个月。"),
    ("We moved house and I packed everything myself.", "我们搬家的时候我自己打包了所有东西。"),
    ("I travelled abroad with my family for two weeks.", "我和家人出国旅行了两个星期。"),
    ("I cooked dinner for twenty friends.", "我为二十个朋友做了一顿晚饭。"),
    ("I learned to play the guitar as a hobby.", "我业余时间学会了弹吉他。"),
    ("My football team won the final.", "我们的足球队拿了决赛冠军。"),
    ("I raised money for a charity event.", "我为一次慈善活动筹了款。"),
    ("I renovated my kitchen at the weekend.", "周末我把厨房重新装修了。"),
    ("I won a prize in a competition at university.", "我大学时在比赛里拿了奖。"),
    ("I solved a technical problem by finding its cause.", "我找到原因，解决了一个技术问题。"),
    ("I helped an unhappy customer.", "我帮助了一位不满意的客户。"),
    ("I explained something complicated clearly.", "我把一件复杂的事讲清楚了。"),
    ("I stayed calm under a lot of pressure.", "我在很大的压力下保持了冷静。"),
    ("I worked with my team towards a shared goal.", "我和团队一起完成了共同的目标。"),
    ("I learned a new skill quickly.", "我很快学会了一项新技能。"),
    ("I found out what a client really needed.", "我弄清了客户真正的需求。"),
    ("I negotiated an agreement with a client.", "我和客户谈成了一个协议。"),
    ("I beat an ambitious sales target.", "我超额完成了很高的销售目标。"),
    ("I took responsibility for a mistake.", "我为自己的错误承担了责任。"),
    ("I led and organised a group of people.", "我带领并组织了一群人。"),
    ("I planned my work to meet a deadline.", "我安排好工作，按期完成了任务。"),
    ("I disagreed with a colleague and we resolved it.", "我和同事有分歧，后来解决了。"),
    ("I processed a lot of paperwork accurately.", "我准确地处理了大量的单据。"),
)
NEAREST_DROPPED = 2  # contrast sentences nearest the competency mean it: not "something else"


@dataclass
class _Rubric:
    centre: np.ndarray  # what the competency is about: name, description, features, anchors
    contrast: dict[bool, np.ndarray]  # what else an answer could be about (by: Chinese?)
    features: tuple[Feature, ...]
    kinds: list[list[str]]  # per feature: the kinds of evidence it asks for (cues.py)
    content: list[set[str]]  # per feature: its content words (stems)
    social: bool  # the competency is about dealing with other people: a story needs them


_STOP = set(
    """a an the and or but so of to in on at for with from by as is was were be been it its this
    that these those i me my we our you your he she they them their his her there here then than
    when what which who how did do does had has have not no yes just very really about into out
    up down over after before all some any can could would should will one more other such own
    same they each candidate candidates someone something person people made make""".split()
)


def _stem(w: str) -> str:
    for suffix in ("ing", "ied", "ies", "ed", "es", "ly", "s"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 4:
            return w[: -len(suffix)]
    return w


_GENERIC = {
    "found",
    "made",
    "sure",
    "take",
    "took",
    "work",
    "thing",
    "things",
    "way",
    "time",
    "cause",
}


# what a claimed result is made of when it names nothing: figures, their units, and words for
# "better" ("it improved things by 45 percent and saved 20,000 dollars" / "效率提升了百分之四十五")
_VAGUE_RESULT = re.compile(
    r"\b(it|this|that|things?|everything|stuff|overall|a lot|lots|results?|improved?|improving|"
    r"improvements?|better|saved?|saving|increased?|boosted?|by|and|of|the|a|an|in|on|about|"
    r"around|over|up|to|percent|per ?cent|dollars?|pounds?|euros?|money|efficiency|"
    r"productivity|performance|revenue|profit|costs?|[\d.,%$€£]+|"
    r"(one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|forty|fifty|hundred|"
    r"thousand|million)s?)\b|效率|效益|业绩|成本|提升|提高|节省|节约|增加|了|百分之|[零一二两三四五"
    r"六七八九十百千万亿\d.,%]+|块钱?|元|个|的"
)


def _names_what_changed(text: str) -> bool:
    rest = _VAGUE_RESULT.sub(" ", text.lower())
    return bool(re.search(r"[a-z]{3,}", rest) or len(_CJK.findall(rest)) >= 2)


def _content(text: str) -> set[str]:
    if _CJK.search(text):
        chars = _CJK.findall(text)
        return {a + b for a, b in itertools.pairwise(chars)}
    return {_stem(w) for w in _words(text) if w not in _STOP and len(w) > 2}


def _features_of(c: Competency) -> tuple[Feature, ...]:
    """The job's level-5 checklist; without one, each sentence of the level-5 example."""
    if c.level5_features:
        return c.level5_features
    example = c.anchors.get(5, "")
    parts = [p for p in re.split(r"(?<=[.!?。！？])\s*", example) if len(p.strip()) > 3]
    return tuple(Feature(f"f{i + 1}", p.strip()) for i, p in enumerate(parts[:5])) or (
        Feature("f1", c.description or c.name),
    )


_rubrics: dict[tuple[Any, ...], _Rubric] = {}
_OTHERS_SAID = re.compile(
    r"\b(him|her|them|he|she|they|(with|to|from|for|asked|told|helped|called) (my|the|a|an|our|"
    r"this|that|one|another) (\w+ )?(manager|lead|boss|colleague|teammate|coworker|co-worker|"
    r"customer|client|engineer|team|supervisor|partner|caller|user|tester|designer|"
    r"developer|friend|classmate|mentor|senior))\b|我们|他|她|同事|客户|对方|组长|领导|经理|大家"
)
_PEOPLE_WORDS = re.compile(
    r"\b(other person|others|other people|teammates?|colleagues?|co-?workers?|customers?|"
    r"clients?|team|people|someone|somebody|him|her|them|he|she|they|manager|partner|"
    r"stakeholders?|audience|listener)\b|同事|客户|对方|别人|他人|团队|大家|他|她|领导|听众"
)


def _rubric(c: Competency) -> _Rubric:
    key = (c.id, c.name, c.description, c.level5_features, tuple(c.anchors.items()))
    cached = _rubrics.get(key)
    if cached is not None:
        return cached
    emb = semantic.embedder()
    feats = _features_of(c)
    high = [c.anchors[lv] for lv in (5, 4) if lv in c.anchors]
    anchor_clauses = [t for a in high for _, t in _split(a, is_chinese(a))]
    profile_texts = [f"{c.name}: {c.description}" if c.description else c.name]
    profile_texts += [f.text for f in feats] + anchor_clauses
    profile = emb.embed(profile_texts).mean(axis=0)
    centre = profile / max(1e-9, float(np.linalg.norm(profile)))
    contrast = {}
    for zh in (False, True):
        vecs = emb.embed([pair[zh] for pair in _CONTRAST])
        order = np.argsort(vecs @ centre)
        contrast[zh] = vecs[np.sort(order[: len(order) - NEAREST_DROPPED])]
    # each feature asks for kinds of evidence its words name, else the kind nearest in meaning
    fvecs = emb.embed([f.text for f in feats])
    kind_vecs = emb.embed([k.description for k in cues.KINDS])
    kinds = [
        cues.kinds_asked(f.text) or [cues.KINDS[int(np.argmax(kind_vecs @ fvecs[i]))].name]
        for i, f in enumerate(feats)
    ]
    content = [_content(f.text) - _GENERIC for f in feats]
    # about dealing with people when most of what a level-5 answer shows involves someone else
    social = sum(bool(_PEOPLE_WORDS.search(f.text.lower())) for f in feats) * 2 > len(feats)
    rub = _Rubric(centre, contrast, feats, kinds, content, social)
    _rubrics[key] = rub
    return rub


# -- the rating --------------------------------------------------------------------------------


@dataclass
class Rating:
    level: int
    score: float
    rule: str  # which rule set the level, in words
    checklist: dict[str, Any]
    evidence: list[str] = field(default_factory=list)
    explanation: str = ""


def _quote(clauses: Sequence[Clause]) -> list[str]:
    return list(dict.fromkeys(c.text for c in clauses))


def rate(text: str, competency: Competency, lang: str | None = None) -> Rating:
    chinese = is_chinese(text, lang)
    said = clean(text)
    clauses = analyse_clauses(said, chinese)
    rub = _rubric(competency)
    emb = semantic.embedder()
    story = [c for c in clauses if not c.listy and not c.habit]
    own = [c for c in clauses if c.action]
    words = len(_CJK.findall(said)) // 2 + len(_words(said))
    anchored = bool(
        (_ANCHOR_ZH if chinese else _ANCHOR_EN).search(said if chinese else said.lower())
    )
    past = sum(c.past for c in story if c.agent != "none" or c.sentence == 0)
    # over what was said in sentences: a keyword list stuck on does not dilute "usually…"
    sentences = [c for c in clauses if not c.listy]
    habit_share = sum(c.habit for c in sentences) / max(1, len(sentences))
    first_own = min((clauses.index(c) for c in own), default=len(clauses))
    told = [
        c
        for i, c in enumerate(clauses)
        if not c.listy and not (i > first_own and c.agent == "none")
    ]
    # a concrete detail where the candidate sets the scene or acts, not a figure tacked on
    scene = " ".join(c.text for c in clauses if c.agent in ("i", "we") or c.sentence == 0)
    specific = bool((_SPECIFIC_ZH if chinese else _SPECIFIC_EN).search(scene.lower()))
    # a non-native speaker may tell a story in the present: no habit word anywhere, several
    # own actions and a concrete detail still make it one episode
    episode = (
        bool(story)
        and habit_share < 0.5
        and (
            anchored
            or past >= 2
            or (habit_share == 0 and specific and (len(own) >= 2 or past >= 1))
        )
    )
    counter = [c for c in clauses if (c.counter or (c.solo and rub.social)) and not c.habit]
    insight = [c for c in clauses if c.insight]
    claims = [c for c in clauses if c.claim]
    weak = [c for c in clauses if c.weak]
    # …or the resolution in the story is somebody else's doing ("she calmed him down")
    resolved_by_other = [
        c
        for c in clauses
        if c.agent == "other" and cues.BY_NAME["resolve"].shows.search(c.text.lower())
    ]
    if resolved_by_other and len(own) <= 2:
        weak += resolved_by_other
    we = [c for c in story if c.agent == "we"]

    # relevance: the whole answer, and each clause, against the competency and everything else
    # what the answer is about: what was said, without keyword lists stuck on
    # the situation and what people did; a result with nobody acting ("it improved things by
    # 45 percent") after the candidate's first action says nothing about the topic
    spoken = (" " if not chinese else "").join(c.text for c in told)
    others = any(c.agent in ("we", "other") for c in clauses if not c.listy) or bool(
        _OTHERS_SAID.search(spoken.lower())
    )

    def margin(v: np.ndarray) -> float:
        return float(rub.centre @ v) - float(np.max(rub.contrast[chinese] @ v))

    relevance = margin(emb.embed([_head(spoken, chinese)])[0]) if spoken else -1.0
    relevant = relevance > PARAMS["relevance"] and (others or not rub.social)
    partly: list[Clause] = []
    if not relevant and own:  # is some of it evidence after all? one batch, the first few
        mine = own[:MAX_CLAUSES_CHECKED]
        for c, v in zip(mine, emb.embed([c.text for c in mine]), strict=True):
            if margin(v) > PARAMS["relevance"] + 0.05:
                partly.append(c)

    # level-5 features, shown only inside the candidate's own story
    # (what someone else did counts only as the outcome of the candidate's actions before it:
    # "The next morning I called him, and he was already at the hospital, on time")
    usable = [c for i, c in enumerate(clauses) if i >= first_own and not c.listy]
    shown: dict[str, str | None] = {}
    used: set[tuple[str, str]] = set()  # a clause shows one feature per kind of evidence
    # a result nobody acts in must say what changed (rule 6): "response times went from four
    # seconds to 200 ms" names it; "it improved things by 45 percent" names nothing

    def show(c: Clause, kinds: list[str]) -> str | None:
        """The kind of evidence clause `c` shows of a feature asking for `kinds`, if any."""
        if c.habit and "reason" not in kinds:
            return None  # "I would also…" inside a story is no evidence, except of options weighed
        low = c.text.lower()
        kind = next(
            (
                k
                for k in kinds
                if (c.text, k) not in used
                and (c.agent != "other" or k == "outcome")
                and cues.BY_NAME[k].shows.search(low)
                and (k != "outcome" or c.agent != "none" or _names_what_changed(c.text))
            ),
            None,
        )
        mine = c.action and c.agent != "other"
        if kind is None and (c.text, "words") not in used and mine:
            if len(rub.content[fi] & _content(c.text)) >= PARAMS["words"]:
                kind = "words"
        return kind

    for fi, f in enumerate(rub.features):
        # a story ends with its result: an outcome is looked for from the end first, so a
        # figure in the diagnosis ("saw every slow request went through one node") is not it
        passes = [(list(reversed(usable)), ["outcome"])] if "outcome" in rub.kinds[fi] else []
        hit = None
        for ordered, kinds in [*passes, (usable, rub.kinds[fi])]:
            for c in ordered:
                kind = show(c, kinds)
                if kind is not None:
                    hit = c.text
                    used.add((c.text, kind))
                    break
            if hit is not None:
                break
        shown[f.id] = hit
    n = sum(v is not None for v in shown.values())
    # two features beyond a bare outcome are the competency's own evidence, whatever the wording
    if not relevant and (others or not rub.social):
        own_kind = [
            f
            for f, k in zip(rub.features, rub.kinds, strict=True)
            if shown[f.id] and k != ["outcome"]
        ]
        relevant = len(own_kind) >= 2
    total = len(rub.features)
    n_own = sum(
        1 for f, k in zip(rub.features, rub.kinds, strict=True) if shown[f.id] and k != ["outcome"]
    )

    # the rules, in order
    if not said or words < 3:
        level, rule = 1, "no answer"
    elif counter and not insight:
        level, rule = 1, "counter-evidence without insight"
    elif not episode or not own:
        concrete = [c for c in clauses if c.doing]
        if episode and we and relevant:
            level, rule = 2, "a real story told only as 'we': no own part visible"
        elif relevant and len(concrete) >= 2 and len(concrete) > len(claims):
            level, rule = 2, "a general approach, not one specific situation"
        else:
            level, rule = 1, "claims, slogans or keywords, no situation"
    elif not relevant:
        level, rule = (
            (2, "mostly about something else; part of it is evidence")
            if partly
            else (1, "about something else than the competency asked")
        )
    elif relevance <= PARAMS["story_relevance"] and n < 2:
        level, rule = 2, "a story only loosely about the competency asked"
    elif n_own == 0 and relevance <= 2 * PARAMS["story_relevance"]:
        level, rule = 2, "a story loosely about the competency that shows none of its evidence"
    elif weak and len([c for c in own if not c.weak]) < 2:
        level, rule = 2, "weak behaviour: escalated, or someone else's fix"
    elif n >= total:
        level, rule = 5, "specific situation, own actions, every level-5 feature"
    elif n >= 2:
        level, rule = 4, "specific situation, own actions, two or more level-5 features"
    else:
        level, rule = 3, "specific situation with own actions"
    # within a level, more of the level-5 checklist ranks higher (the level stays the rule's)
    if level == 3:
        score = 3.0 + 0.3 * min(n, 1)
    elif level == 4:
        score = 4.0 + min(0.4, 0.4 * (n - 2) / max(1, total - 3))
    else:
        score = float(level)
    missing = [f.id for f in rub.features if shown[f.id] is None]
    checklist = {
        "specific_situation": episode,
        "own_actions": _quote(own),
        "about_competency": relevant,
        "relevance": round(relevance, 3),
        "level5_features": [
            {"id": f.id, "text": f.text, "quote": shown[f.id]} for f in rub.features
        ],
        "missing": missing if level >= 3 else [f.id for f in rub.features],
        "counter_evidence": _quote(counter),
        "insight": _quote(insight),
        "weak_behaviour": _quote(weak),
        "we_only": bool(we) and not own,
    }
    features_said = [t for t in shown.values() if t] if level >= 3 else []
    evidence = _evidence(clauses, own, features_said, counter if level == 1 else [])
    expl = (
        f"specific situation: {'yes' if episode else 'no'}; own actions: {len(own)} "
        f"clause(s); about {competency.name}: {'yes' if relevant else 'no'}"
    )
    if level >= 3:
        got = [f.id for f in rub.features if shown[f.id]]
        expl += f"; level-5 features shown: {', '.join(got) or 'none'}"
        if missing:
            expl += f"; missing: {', '.join(missing)}"
    expl += f" → {level} ({rule})"
    return Rating(level, round(score, 1), rule, checklist, evidence, expl)


def _head(text: str, chinese: bool) -> str:
    """What an answer is about shows in its first sentences; the encoder's cost grows with
    length, so a long answer is judged by its first RELEVANCE_WORDS words (characters / 2)."""
    if chinese:
        return text[: 2 * RELEVANCE_WORDS]
    return " ".join(text.split()[:RELEVANCE_WORDS])


def _evidence(
    clauses: Sequence[Clause],
    own: Sequence[Clause],
    features: Sequence[str],
    counter: Sequence[Clause],
) -> list[str]:
    """Quoted sentences behind the level, in the order said; at least one if anything was."""
    picked = list(dict.fromkeys([*features, *(c.text for c in counter), *(c.text for c in own)]))[
        :3
    ]
    if not picked and clauses:
        picked = [max(clauses, key=lambda c: len(c.text)).text]
    order = {c.text: i for i, c in enumerate(clauses)}
    return sorted(picked, key=lambda t: order.get(t, 0))
