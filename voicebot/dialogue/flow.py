"""The interview flow both engines run: one function per custom action of the Rasa project.

An action gets the conversation state (the Rasa slots), the call's context (the plan, the
company, the candidate's time zone: the message metadata) and what was understood (intent,
text, event), and returns the new state and the messages for the session. The Rasa action
server (`actions.py`) wraps each as a `rasa_sdk` action; the built-in engine (`builtin.py`)
calls them in-process. So the two engines cannot drift apart: the flow is written once.

Messages are plain JSON dicts (the Rasa custom payload), turned into session actions by
`to_actions`:

    {"say": text, "kind": ..., "listen": bool, "question_id": ..., "interruptible": bool}
    {"consent": bool}      {"answer": {"question_id", "text", "value"}}
    {"callback": {"when", "text"}}      {"opt_out": true}      {"hangup": outcome}
    {"transfer": reason, "fallback": text}      {"state": {...}} (the slots after the action)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from voicebot.dialogue.entities import extract, zone_info
from voicebot.dialogue.policy import (
    Action,
    Hangup,
    InterviewContext,
    RecordAnswer,
    RecordCallback,
    RecordConsent,
    RecordOptOut,
    Say,
    Transfer,
)
from voicebot.dialogue.prompts import Prompts

Message = dict[str, Any]
State = dict[str, Any]

INITIAL_STATE: State = {
    "stage": "consent",  # "consent" | "questions" | "done"
    "question_index": 0,  # the question being asked
    "unclear": 0,  # unclear answers to the pending prompt
    "awaiting": None,  # None | "followup" (a STAR follow-up) | "callback_time"
    "partial_answer": None,  # a behavioural answer waiting for its follow-up
}
CONSENT_ATTEMPTS = 2  # an unclear consent answer gets one more ask; a second counts as no
ANSWER_INTENTS = ("affirm", "deny", "inform", "dont_know", "nlu_fallback", "greet")


# --- the call's context, as message metadata ----------------------------------------------


def context_metadata(ctx: InterviewContext, job_info: Mapping[str, str] | None = None) -> dict:
    """Everything the actions need about the call, sent with every message: the action
    server keeps no per-call state, so it survives restarts and serves any number of calls."""
    job = ctx.plan.job
    return {
        "call_id": ctx.call_id,
        "locale": ctx.locale,
        "company": ctx.company,
        "bot_name": ctx.bot_name,
        "candidate_name": ctx.candidate_name,
        "job_title": job.title,
        "timezone": ctx.timezone,
        "compliance": ctx.compliance,
        "max_reprompts": ctx.max_reprompts,
        "questions": [{"id": q.id, "text": q.text, "kind": q.kind} for q in ctx.plan.questions],
        "job_info": dict(job_info) if job_info else job_facts(job),
    }


def job_facts(job: Any) -> dict[str, str]:
    """What the bot may tell a candidate who asks about the job (salary, location, hours)."""
    facts = {"company": job.company, "title": job.title}
    if getattr(job, "summary", ""):
        facts["summary"] = job.summary
    levels = getattr(job, "levels", None) or ()
    bands = [lv.salary for lv in levels if getattr(lv, "salary", None) is not None]
    if bands:
        lo = min(getattr(b, "min", 0) or 0 for b in bands)
        hi = max(getattr(b, "max", 0) or 0 for b in bands)
        cur = getattr(bands[0], "currency", "") or ""
        per = getattr(bands[0], "period", "year") or "year"
        facts["salary"] = f"{lo:,.0f} to {hi:,.0f} {cur} a {per}".replace("  ", " ")
    for key in ("location", "hours"):
        if getattr(job, key, None):
            facts[key] = str(getattr(job, key))
    return facts


@dataclass(frozen=True, slots=True)
class Turn:
    """What one action is about: the intent and text understood, or the event that came."""

    intent: str
    text: str = ""
    event: Mapping[str, Any] = field(default_factory=dict)  # {"count": n} or {"digit": d}
    now: datetime | None = None  # for call-back times; the real clock when None


# --- the flow -----------------------------------------------------------------------------


class Flow:
    """The actions of the interview; stateless, so one instance serves every call."""

    def __init__(self, prompts: Prompts | None = None) -> None:
        self.prompts = prompts if prompts is not None else Prompts()
        self.actions: dict[str, Callable[[_Run], None]] = {
            "action_start_interview": _Run.start,
            "action_handle_answer": _Run.handle_answer,
            "action_repeat_question": _Run.repeat,
            "action_clarify_question": _Run.clarify,
            "action_reschedule": _Run.reschedule,
            "action_opt_out": _Run.opt_out,
            "action_answer_job_question": _Run.job_question,
            "action_transfer": _Run.transfer,
            "action_goodbye": _Run.goodbye,
            "action_silence": _Run.silence,
            "action_keypress": _Run.keypress,
            "action_unclear": _Run.unclear,
            "action_hesitate": _Run.hesitate,
            "action_disclose_bot": _Run.disclose_bot,
        }

    def run(
        self, action: str, state: Mapping[str, Any] | None, meta: Mapping[str, Any], turn: Turn
    ) -> tuple[State, list[Message]]:
        """Run `action`; returns the whole new state and the messages, the state last."""
        if action not in self.actions:
            raise KeyError(f"unknown action {action!r}; known: {', '.join(self.actions)}")
        run = _Run(self.prompts, {**INITIAL_STATE, **(state or {})}, meta, turn)
        if action in SPOKEN_ACTIONS and is_filler(turn.text):
            action = "action_hesitate"  # a bare 嗯 / um is no answer, whatever the NLU said
        if run.state["stage"] != "done" or action == "action_start_interview":
            self.actions[action](run)
        return run.state, [*run.out, {"state": run.state}]


class _Run:
    """One action's execution: reads and updates `state`, appends messages to `out`."""

    def __init__(self, prompts: Prompts, state: State, meta: Mapping[str, Any], turn: Turn):
        self.prompts = prompts
        self.state = state
        self.meta = meta
        self.turn = turn
        self.out: list[Message] = []

    # actions -----------------------------------------------------------------------------

    def start(self) -> None:
        self.state.update(INITIAL_STATE)
        self.say("greeting", kind="greeting", interruptible=False)
        if self.meta.get("compliance") == "us":
            self.say("recording_disclosure", kind="greeting", interruptible=False)
        self.say("consent", kind="consent", listen=True)

    def handle_answer(self) -> None:
        awaiting = self.state["awaiting"]
        if awaiting == "callback_time":
            self.record_callback()
        elif self.state["stage"] == "consent":
            given = {"affirm": True, "deny": False}.get(self.turn.intent)
            if given and not explicit_yes(self.turn.text):
                given = None  # consent is an explicit yes (or key 1), never a guess
            self.consent(given)
        elif not _words(self.turn.text):
            self.unclear()
        elif self.turn.intent == "dont_know" and awaiting != "followup":
            self.record(self.turn.text)
            self.next_question(self.render("dont_know_ack"))
        else:
            self.answer()

    def repeat(self) -> None:
        self.pending("repeat", self.render("repeat"))

    def clarify(self) -> None:
        if self.state["stage"] != "questions":
            self.pending("repeat", self.render("repeat"))
            return
        q = self.question
        self.pending("clarify", self.render("clarify", kind=q["kind"], text=q["text"]))

    def reschedule(self) -> None:
        now = self.turn.now or datetime.now(UTC)
        when = extract(self.turn.text, now=now, tz=self.tz, kind="callback").callback_at
        if when is None and self.state["awaiting"] != "callback_time":
            self.state["awaiting"] = "callback_time"
            self.emit(self.say_msg("callback_ask", kind="callback", listen=True))
            return
        self.record_callback(when)

    def opt_out(self) -> None:
        if self.state["stage"] == "consent":
            self.out.append({"consent": False})
        self.out.append({"opt_out": True})
        self.end("goodbye_opt_out", "opted_out")

    def job_question(self) -> None:
        topic = _topic(self.turn.text)
        facts = self.meta.get("job_info") or {}
        info = self.render("job_info", topic=topic, value=facts.get(topic, ""), facts=facts)
        if self.state["awaiting"] == "callback_time":
            self.emit(self.say_msg("callback_ask", kind="callback", listen=True, lead=info))
            return
        self.pending("info", _join(info, self.render("resume_question")))

    def transfer(self) -> None:
        if asks_if_bot(self.turn.text):
            self.disclose_bot()  # "are you a robot?" is a question, not a request for a person
            return
        self.say("transfer", kind="transfer")
        self.out.append(
            {
                "transfer": "candidate asked for a person",
                "fallback": self.render("transfer_unavailable"),
            }
        )
        self.state["stage"] = "done"
        self.out.append({"hangup": "transferred"})

    def goodbye(self) -> None:
        if self.state["stage"] == "consent":
            self.out.append({"consent": False})
            self.end("goodbye_no_consent", "no_consent")
            return
        if self.state["stage"] == "questions" and not says_goodbye(self.turn.text):
            self.handle_answer()  # "数据库挂了，我切到了备库": the database went down, a story
            return
        self.end("goodbye_early", "ended_early")

    def silence(self) -> None:
        count = int(self.turn.event.get("count", 1))
        if count > int(self.meta.get("max_reprompts", 2)):
            self.end("goodbye_silence", "silence")
            return
        self.pending("reprompt", self.render("reprompt", count=count))

    def keypress(self) -> None:
        digit = str(self.turn.event.get("digit", ""))
        if digit == "*":
            self.repeat()
        elif digit in ("1", "2") and self.state["stage"] == "consent":
            self.consent(digit == "1")

    def unclear(self) -> None:
        if self.state["awaiting"] == "callback_time":
            self.record_callback()
            return
        if self.state["stage"] == "consent":
            self.consent(None)
            return
        self.state["unclear"] += 1
        if self.state["unclear"] > int(self.meta.get("max_reprompts", 2)):
            self.end("goodbye_unclear", "unclear")
            return
        q = self.question
        text = self.render("repeat_unclear")
        self.emit({"say": text, "kind": "repeat", "listen": True, "question_id": q["id"]})

    def hesitate(self) -> None:
        """A bare filler (嗯, 呃, 那个, um): no answer and no consent; the prompt waits."""
        if not is_filler(self.turn.text):
            self.handle_answer()  # the NLU heard a filler in what is an answer: "嗯，两万左右"
            return
        if self.state["stage"] == "consent" and self.state["awaiting"] != "callback_time":
            self.unclear()  # consent asked again; a second unclear reply counts as no
            return
        self.state["unclear"] += 1
        if self.state["awaiting"] == "callback_time":
            if self.state["unclear"] > int(self.meta.get("max_reprompts", 2)):
                self.record_callback()  # no time said: the dialer picks its next window
            else:
                self.emit(self.say_msg("callback_ask", kind="callback", listen=True))
        elif self.state["unclear"] > int(self.meta.get("max_reprompts", 2)):
            self.end("goodbye_unclear", "unclear")
        elif self.state["unclear"] == 1:
            q = self.question
            text = self.render("hesitate")
            self.emit({"say": text, "kind": "hesitate", "listen": True, "question_id": q["id"]})
        else:
            self.pending("repeat", self.render("repeat"))

    def disclose_bot(self) -> None:
        """Yes, an AI (said whole: barge-in must not cut it), then the pending prompt again."""
        self.say("bot_disclosure", kind="disclosure", interruptible=False)
        if self.state["stage"] == "questions" and not self.state["awaiting"]:
            self.pending("repeat", self.render("resume_question"))
        else:
            self.pending("consent" if self.state["stage"] == "consent" else "repeat", "")

    # steps -------------------------------------------------------------------------------

    def consent(self, given: bool | None) -> None:
        if given:
            self.state.update(stage="questions", unclear=0)
            self.out.append({"consent": True})
            self.next_question(self.render("consent_given"))
            return
        if given is None:
            self.state["unclear"] += 1
            if self.state["unclear"] < CONSENT_ATTEMPTS:
                self.say("consent_repeat", kind="consent", listen=True)
                return
        self.out.append({"consent": False})
        self.end("goodbye_no_consent", "no_consent")

    def answer(self) -> None:
        q = self.question
        text = self.turn.text.strip()
        if self.state["awaiting"] == "followup":
            text = _join(self.state["partial_answer"] or "", text)
        elif q["kind"] == "behavioral" and (missing := missing_star(text, self.locale)):
            self.state.update(awaiting="followup", partial_answer=text)
            follow = self.render("followup", missing=missing)
            self.emit({"say": follow, "kind": "followup", "listen": True, "question_id": q["id"]})
            return
        self.record(text)
        self.next_question(self.render("ack", index=self.state["question_index"] - 1))

    def record(self, text: str) -> None:
        q = self.question
        now = self.turn.now or datetime.now(UTC)
        found = extract(text, now=now, tz=self.tz, kind=q["kind"], locale=self.locale)
        value = found.to_dict() or None
        self.out.append({"answer": {"question_id": q["id"], "text": text, "value": value}})
        self.state.update(
            question_index=self.state["question_index"] + 1,
            unclear=0,
            awaiting=None,
            partial_answer=None,
        )

    def record_callback(self, when: str | None = None) -> None:
        if when is None:
            now = self.turn.now or datetime.now(UTC)
            when = extract(self.turn.text, now=now, tz=self.tz, kind="callback").callback_at
        self.out.append({"callback": {"when": when, "text": self.turn.text}})
        self.end("goodbye_callback", "callback", when=_spoken_time(when, self.locale))

    def next_question(self, lead: str) -> None:
        """Ask the current question after `lead`, or close the interview when none is left."""
        if self.state["question_index"] >= len(self.questions):
            self.end("goodbye_completed", "completed")
            return
        self.emit(self.ask("ask", lead))

    def pending(self, kind: str, lead: str) -> None:
        """The prompt awaiting an answer (consent, question or call-back time), said again."""
        if self.state["awaiting"] == "callback_time":
            self.emit(self.say_msg("callback_ask", kind=kind, listen=True, lead=lead))
        elif self.state["awaiting"] == "followup":
            missing = missing_star(self.state["partial_answer"] or "", self.locale) or "result"
            follow = _join(lead, self.render("followup", missing=missing))
            self.emit(
                {"say": follow, "kind": kind, "listen": True, "question_id": self.question["id"]}
            )
        elif self.state["stage"] == "consent":
            self.emit({"say": _join(lead, self.render("consent")), "kind": kind, "listen": True})
        else:
            self.emit(self.ask(kind, lead))

    def ask(self, kind: str, lead: str) -> Message:
        q = self.question
        total = len(self.questions)
        number = self.state["question_index"] + 1
        text = self.render("question", text=q["text"], number=number, total=total)
        return {"say": _join(lead, text), "kind": kind, "listen": True, "question_id": q["id"]}

    def end(self, template: str, outcome: str, **extra: Any) -> None:
        self.state.update(stage="done", awaiting=None)
        self.say(template, kind="goodbye", **extra)
        self.out.append({"hangup": outcome})

    # helpers -----------------------------------------------------------------------------

    def say(self, template: str, *, kind: str, listen: bool = False, **extra: Any) -> None:
        interruptible = extra.pop("interruptible", True)
        msg = self.say_msg(template, kind=kind, listen=listen, **extra)
        msg["interruptible"] = interruptible
        self.emit(msg)

    def say_msg(self, template: str, *, kind: str, listen: bool, lead: str = "", **extra: Any):
        return {"say": _join(lead, self.render(template, **extra)), "kind": kind, "listen": listen}

    def emit(self, msg: Message) -> None:
        msg.setdefault("interruptible", True)
        self.out.append(msg)

    def render(self, name: str, **extra: Any) -> str:
        m = self.meta
        context = {
            "bot_name": m.get("bot_name", ""),
            "company": m.get("company", ""),
            "candidate_name": m.get("candidate_name"),
            "job_title": m.get("job_title", ""),
            "question_count": len(self.questions),
            **extra,
        }
        return self.prompts.render(name, context, locale=self.locale)

    @property
    def questions(self) -> list[Mapping[str, Any]]:
        return list(self.meta.get("questions") or [])

    @property
    def question(self) -> Mapping[str, Any]:
        index = min(self.state["question_index"], len(self.questions) - 1)
        return self.questions[index]

    @property
    def locale(self) -> str:
        return str(self.meta.get("locale") or "en")

    @property
    def tz(self) -> str:
        return str(self.meta.get("timezone") or "UTC")


# --- understanding helpers ------------------------------------------------------------------

# Latin words are bounded by (?<![a-z]) / (?![a-z]), not \b: in "OK的" or "AI吗" a Chinese
# character is a word character too, so \b would not end the word.

# the actions that answer words: a bare filler said to any of them is a hesitation
SPOKEN_ACTIONS = frozenset(
    {
        "action_handle_answer", "action_repeat_question", "action_clarify_question",
        "action_reschedule", "action_opt_out", "action_answer_job_question",
        "action_transfer", "action_goodbye", "action_disclose_bot",
    }
)  # fmt: skip
_FILLERS = re.compile(
    r"让我想想|我想想|想一想|想一下|就是说|就是|那个|这个|然后|嗯+|呃+|额+|啊+|哦+|噢+|唔+|"
    r"(?<![a-z])(?:u+m+|u+h+|e+r+m*|h+m+|m+|a+h+|o+h+|well|like|let me think|let me see)"
    r"(?![a-z])"
)


_GOODBYE = re.compile(
    r"再见|拜拜|挂了吧|挂吧|(?:我|先|要|得)挂了|挂电话|不聊了|不说了|没时间了|"
    r"(?<![a-z])(?:bye|goodbye|hang up|hanging up|got to go|gotta go|have to go|must go)"
    r"(?![a-z])"
)


def says_goodbye(text: str) -> bool:
    """A leave-taking, not a story that contains 挂了 ("went down"): a goodbye phrase, or a
    reply too short to be an answer."""
    low = text.lower()
    if _GOODBYE.search(low):
        return True
    cjk = len(re.findall(r"[\u4e00-\u9fff]", low))
    return cjk + len(re.findall(r"[a-z']+", low)) <= 5


def is_filler(text: str) -> bool:
    """Only hesitation: 嗯, 呃……那个, "um, uh". A question mark makes it a "huh?" (a repeat
    request, for the NLU to read), and an empty text is no filler (it is unclear)."""
    low = text.lower()
    if not re.search(r"\w", low) or re.search(r"[?？]", low):
        return False
    return not re.sub(r"[\W_]+", "", _FILLERS.sub("", low))


_YES_WITH_NEGATION = re.compile(
    r"没问题|没事|没关系|不介意|不错|不成问题|no problem|not a problem|no worries|don't mind|"
    r"do not mind|why not"
)
_NEGATION = re.compile(
    r"不|没|别|甭|(?<![a-z])(?:no|not|nope|nah|never|don't|won't|can't)(?![a-z])|n't(?![a-z])"
)
_YES = re.compile(
    r"可以|好|行|没问题|没事|没关系|不介意|同意|愿意|是|对|当然|继续|开始|问吧|说吧|录吧|准备好|"
    r"(?<![a-z])(?:yes|yeah|yep|yup|sure|ok|okay|alright|all right|fine|of course|absolutely|"
    r"definitely|agree|consent|go ahead|go on|go for it|carry on|continue|proceed|ready|happy to|"
    r"sounds good|let's|correct|right|please|works|start|ask away|no problem|don't mind)(?![a-z])"
)


def explicit_yes(text: str) -> bool:
    """An explicit yes (可以, 好的, 行, 没问题, 同意, "yes", "sure"...) and no "no" in it:
    consent is never read from a filler or a guess."""
    low = text.lower()
    if not _YES.search(low):
        return False
    return not _NEGATION.search(_YES_WITH_NEGATION.sub(" ", low))


_BOT_QUESTION = re.compile(
    r"(你|您|对面|这边|这)(是|是不是|就是)?(个|一个)?(机器人|真人|真的人|人工智能|ai|电脑|机器|"
    r"自动|录音|人还是)|在跟机器|跟机器人(说话|聊天)吗|自动打的|"
    r"(?<![a-z])are you (a |an )?(robot|bot|machine|computer|real|human|person|ai)(?![a-z])|"
    r"(?<![a-z])(am i|are we) (talking|speaking) (to|with) (a |an )?"
    r"(robot|bot|machine|computer|ai)(?![a-z])|"
    r"(?<![a-z])is this (a |an )?(robot|bot|automated|recorded|ai|machine)(?![a-z])"
)


def asks_if_bot(text: str) -> bool:
    """ "你是机器人吗" / "are you a robot?": asks what the bot is, which it answers (it is an
    AI), rather than asking for a person ("我不想跟机器人说" is such a request)."""
    low = text.lower()
    return bool(_BOT_QUESTION.search(low)) and not re.search(
        r"不想|不要|转|找|换|让|want|rather|put me|transfer|speak to a|talk to a", low
    )


_STAR_CUES = {
    "en": {
        "situation": r"\b(when|once|last (year|month|week)|at my|there was|we had|our|in my)\b",
        "action": r"\b(i|we) (\w+ed|did|made|wrote|built|took|led|found|ran|set|put|got|"
        r"decided|talked|asked|spoke|added|rolled|fixed|made|went|started|moved)\b",
        "result": r"\b(result|in the end|turned out|so we|back up|reduced|improved|resolved|"
        r"saved|percent|%|after that|finally|outcome|worked|shipped|learned|since then|"
        r"no longer|went back|was fixed|cut|faster|slower|happy|on time|by (half|a (third|"
        r"quarter|half))|by \d+|halved|doubled|tripled|dropped|fell|went (down|up)|fewer|"
        r"less|lower|higher|increased|decreased|stopped|solved|succeeded|agreed|"
        r"it (helped|paid off)|got better|from \d+\S* to \d+)\b",
    },
    "zh": {
        "situation": r"有一次|当时|之前|去年|那时|以前|在.{0,6}(公司|项目)",
        "action": r"我(们)?.{0,4}(做|写|改|加|查|找|定位|回滚|修|沟通|提出|决定|负责|带)",
        "result": r"结果|最后|最终|降|提升|解决|恢复|上线|成功|减少|提高|之后",
    },
}


def missing_star(text: str, locale: str = "en") -> str | None:
    """Which part of a behavioural answer (situation, action, result) is missing, if any.

    A long answer is trusted as it is: the follow-up is for short answers that stop early.
    """
    cues = _STAR_CUES.get(locale.split("-")[0].split("_")[0], _STAR_CUES["en"])
    low = text.lower()
    if len(_words(text)) > 60 or len(text) > 400:
        return None
    for part in ("action", "result", "situation"):
        if not re.search(cues[part], low):
            return part
    return None


_TOPICS = (
    ("salary", r"salary|pay|money|compensation|wage|benefit|bonus|薪|工资|待遇|钱|福利"),
    ("location", r"where|location|office|remote|based|city|地点|哪里|哪儿|远程|办公|城市"),
    ("hours", r"hours|schedule|shift|part.time|full.time|overtime|时间|加班|几点|工时|上班"),
    ("company", r"company|who are you|who is|what do you do|公司|你们是"),
)


def _topic(text: str) -> str:
    low = text.lower()
    return next((name for name, pat in _TOPICS if re.search(pat, low)), "summary")


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _spoken_time(when: str | None, locale: str) -> str:
    """How the call-back time is read back: "Saturday, May 2 at 10:00" / "5月2日 10:00"."""
    if when is None:
        return ""
    t = datetime.fromisoformat(when)
    if locale.startswith("zh"):
        return f"{t.month}月{t.day}日 {t:%H:%M}"
    return f"{t:%A}, {t:%B} {t.day} at {t:%H:%M}"


# --- messages → session actions ---------------------------------------------------------------


class MalformedReply(ValueError):
    """A bot message that is not one of the flow's message shapes (e.g. from a broken server)."""


def to_actions(messages: list[Message], confidence: float | None = None) -> list[Action]:
    """The session's actions for a list of flow messages; the state message is skipped."""
    actions: list[Action] = []
    for msg in messages:
        if not isinstance(msg, Mapping):
            raise MalformedReply(f"expected a JSON object, got {msg!r:.80}")
        try:
            actions.extend(_to_action(msg, confidence))
        except (KeyError, TypeError, ValueError) as e:
            raise MalformedReply(f"bad message {dict(msg)!r:.120}: {e}") from None
    return actions


def _to_action(msg: Mapping[str, Any], confidence: float | None) -> list[Action]:
    if "say" in msg:
        text = msg["say"]
        if not isinstance(text, str) or not text.strip():
            raise ValueError("'say' must be non-empty text")
        return [
            Say(
                text,
                kind=str(msg.get("kind", "say")),
                question_id=msg.get("question_id"),
                listen=bool(msg.get("listen", False)),
                interruptible=bool(msg.get("interruptible", True)),
            )
        ]
    if "text" in msg and isinstance(msg["text"], str):  # a plain domain response
        return [Say(msg["text"], kind="say")]
    if "consent" in msg:
        return [RecordConsent(bool(msg["consent"]))]
    if "answer" in msg:
        a = msg["answer"]
        return [RecordAnswer(str(a["question_id"]), str(a["text"]), confidence, a.get("value"))]
    if "callback" in msg:
        when = msg["callback"].get("when")
        if when is not None:
            datetime.fromisoformat(when)  # a bad time is a malformed reply
        return [RecordCallback(when, str(msg["callback"].get("text", "")))]
    if msg.get("opt_out"):
        return [RecordOptOut()]
    if "transfer" in msg:
        return [Transfer(str(msg["transfer"]), str(msg.get("fallback", "")))]
    if "hangup" in msg:
        return [Hangup(str(msg["hangup"]))]
    if "state" in msg:
        return []
    raise ValueError("unknown message kind")


def validate_timezone(name: str) -> None:
    """Raise ValueError naming `name` when it is not an IANA zone."""
    zone_info(name)
