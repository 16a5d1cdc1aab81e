"""Mandarin turns a recruiter must be able to trust, on both engines, judged on the labelled
replies of tests/data/dialogue-zh/ (written before the fixes; `held_out` never tuned on):
a bare filler (嗯, 呃, 那个) is never consent, consent is an explicit yes, "你是机器人吗" is
answered (the bot is an AI) and never transferred."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.dialogue.test_conversations import NOW, context
from voicebot.dialogue.builtin import BuiltinEngine
from voicebot.dialogue.flow import asks_if_bot, explicit_yes, is_filler
from voicebot.dialogue.policy import (
    Action,
    DialoguePolicy,
    RecordAnswer,
    RecordCallback,
    RecordConsent,
    RecordOptOut,
    Say,
    Transfer,
    Utterance,
)
from voicebot.dialogue.rasa import RasaEngine

DATA = Path(__file__).resolve().parents[1] / "data" / "dialogue-zh"
INTENTS = yaml.safe_load((DATA / "intents.yaml").read_text(encoding="utf-8"))["items"]
CONSENT = yaml.safe_load((DATA / "consent.yaml").read_text(encoding="utf-8"))["items"]
ROOT = Path(__file__).resolve().parents[2]


def consent_outcome(actions: list[Action]) -> str:
    """What the bot did with a reply to the consent question, in the labels' words."""
    if any(isinstance(a, RecordOptOut) for a in actions):
        return "opt_out"
    if any(isinstance(a, Transfer) for a in actions):
        return "transfer"
    if any(isinstance(a, RecordCallback) for a in actions) or any(
        isinstance(a, Say) and a.kind == "callback" for a in actions
    ):
        return "callback"
    for a in actions:
        if isinstance(a, RecordConsent):
            return "given" if a.given else "refused"
    if any(isinstance(a, Say) and a.kind == "disclosure" for a in actions):
        return "disclosed"
    if any(isinstance(a, Say) and a.kind == "consent" and a.listen for a in actions):
        return "ask_again"
    return "other: " + ", ".join(type(a).__name__ for a in actions)


async def reply_to_consent(policy: DialoguePolicy, text: str) -> list[Action]:
    await policy.start(context("interview-zh"))
    return await policy.on_utterance(Utterance(text, 0.9))


# --- the rules under both engines ---------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["嗯", "呃……那个", "嗯嗯", "就是", "um, uh", "嗯，让我想想", "额"]
)  # fmt: skip
def test_bare_fillers_are_fillers(text: str) -> None:
    assert is_filler(text)


@pytest.mark.parametrize("text", ["嗯，可以", "嗯？", "呃，两万", "", "um, yes", "那个公司"])
def test_words_with_content_are_not_fillers(text: str) -> None:
    assert not is_filler(text)


@pytest.mark.parametrize(
    "text, yes",
    [("可以", True), ("好的", True), ("行", True), ("没问题", True), ("同意", True),
     ("OK的", True), ("嗯，行", True), ("Yes, go ahead.", True), ("I don't mind", True),
     ("嗯", False), ("不可以", False), ("不行", False), ("不太好", False), ("不同意", False),
     ("No, not okay", False), ("嗯嗯", False)],
)  # fmt: skip
def test_consent_takes_an_explicit_yes(text: str, yes: bool) -> None:
    assert explicit_yes(text) is yes


def test_every_affirm_training_example_is_an_explicit_yes() -> None:
    """The NLU's affirm examples and the consent rule agree: nothing the NLU learns as yes is
    refused by the rule (else consent would hang on the rule, not on the candidate)."""
    engine = BuiltinEngine()
    vague = [t for t in engine.project.examples["affirm"] if not explicit_yes(t)]
    assert vague == []


@pytest.mark.parametrize(
    "text, asks",
    [("你是机器人吗", True), ("你是真人吗？", True), ("你是不是AI啊", True),
     ("are you a robot?", True), ("我不想跟机器人说", False), ("转人工", False),
     ("有没有真人", False), ("I don't want to talk to a robot", False)],
)  # fmt: skip
def test_are_you_a_robot_is_told_from_asking_for_a_person(text: str, asks: bool) -> None:
    assert asks_if_bot(text) is asks


def test_no_held_out_intent_is_in_the_training_data() -> None:
    """(consent.yaml's held-out replies judge the flow; some are NLU examples too, so the
    benchmark also reports the consent replies the NLU never saw.)"""
    engine = BuiltinEngine()
    trained = {t for texts in engine.project.examples.values() for t in texts}
    held = [i["text"] for i in INTENTS if i["split"] == "held_out"]
    assert [t for t in held if t in trained] == []


# --- the built-in engine --------------------------------------------------------------------


def test_builtin_understands_the_held_out_mandarin_intents(builtin_engine: BuiltinEngine) -> None:
    held = [i for i in INTENTS if i["split"] == "held_out"]
    wrong = [
        (i["text"], i["intent"], got)
        for i in held
        if (got := builtin_engine.classify(i["text"]).intent) != i["intent"]
    ]
    assert len(wrong) <= 0.1 * len(held), wrong


@pytest.mark.parametrize("item", CONSENT, ids=[f"{i['split']}:{i['text']}" for i in CONSENT])
async def test_builtin_consent_replies(item: dict[str, Any], builtin_engine: BuiltinEngine) -> None:
    actions = await reply_to_consent(builtin_engine.policy(clock=lambda: NOW), item["text"])
    assert consent_outcome(actions) == item["expect"]


async def test_a_filler_never_counts_as_an_answer(builtin_engine: BuiltinEngine) -> None:
    policy = builtin_engine.policy(clock=lambda: NOW)
    await reply_to_consent(policy, "可以")
    first = await policy.on_utterance(Utterance("嗯……"))
    second = await policy.on_utterance(Utterance("那个"))
    assert not any(isinstance(a, RecordAnswer) for a in first + second)
    assert [a.kind for a in first if isinstance(a, Say)] == ["hesitate"]
    (again,) = [a for a in second if isinstance(a, Say)]  # the second filler: the question again
    assert again.kind == "repeat" and again.question_id == "salary" and again.listen
    (answer, *_) = await policy.on_utterance(Utterance("嗯，两万左右吧"))
    assert isinstance(answer, RecordAnswer) and answer.value is not None
    assert answer.value["money"]["amount"] == 20000


async def test_the_disclosure_is_not_cut_by_barge_in(builtin_engine: BuiltinEngine) -> None:
    actions = await reply_to_consent(builtin_engine.policy(clock=lambda: NOW), "你是机器人吗")
    disclosure, ask = [a for a in actions if isinstance(a, Say)]
    assert disclosure.kind == "disclosure" and not disclosure.interruptible
    assert "人工智能" in disclosure.text and "不是真人" in disclosure.text
    assert ask.kind == "consent" and ask.listen


# --- a real Rasa server -----------------------------------------------------------------------


@pytest.mark.rasa
async def test_rasa_understands_the_held_out_mandarin_intents(rasa_url: str) -> None:
    import aiohttp

    held = [i for i in INTENTS if i["split"] == "held_out"]
    wrong = []
    async with aiohttp.ClientSession() as session:
        for item in held:
            async with session.post(f"{rasa_url}/model/parse", json={"text": item["text"]}) as r:
                parsed = await r.json()
            ranking = [i["name"] for i in parsed.get("intent_ranking", [])]
            top = next((name for name in ranking if name != "nlu_fallback"), None)
            if top != item["intent"]:
                wrong.append((item["text"], item["intent"], top))
    assert len(wrong) <= 0.15 * len(held), wrong


@pytest.mark.rasa
async def test_rasa_consent_replies(rasa_url: str) -> None:
    """Every labelled consent reply through the real Rasa server and action server; a filler
    never consents, a robot question is never transferred."""
    wrong = []
    async with RasaEngine(rasa_url, turn_timeout_s=10) as engine:
        for item in CONSENT:
            policy = engine.policy(clock=lambda: NOW)
            got = consent_outcome(await reply_to_consent(policy, item["text"]))
            assert policy.fallback is None, f"Rasa failed: {policy.fallback_reason}"
            if got != item["expect"]:
                wrong.append((item["text"], item["expect"], got))
    unsafe = [w for w in wrong if w[2] == "given" or (w[1] == "disclosed" and w[2] == "transfer")]
    assert unsafe == []
    assert len(wrong) <= 1, wrong


@pytest.mark.parametrize("text", ["um", "uh, hmm", "Hmm..."])
async def test_an_english_filler_is_no_consent_either(
    text: str, builtin_engine: BuiltinEngine
) -> None:
    policy = builtin_engine.policy(clock=lambda: NOW)
    await policy.start(context("interview-en"))
    actions = await policy.on_utterance(Utterance(text))
    assert consent_outcome(actions) == "ask_again"


async def test_a_filler_when_asked_for_a_call_back_time_asks_again(
    builtin_engine: BuiltinEngine,
) -> None:
    policy = builtin_engine.policy(clock=lambda: NOW)
    await reply_to_consent(policy, "我在开车，现在不方便")
    (ask,) = await policy.on_utterance(Utterance("嗯……"))
    assert ask.kind == "callback" and ask.listen
    actions = await policy.on_utterance(Utterance("明天上午十点吧"))
    (callback,) = [a for a in actions if isinstance(a, RecordCallback)]
    assert callback.when == "2026-05-02T10:00:00+08:00"


async def said_after_consent(engine: BuiltinEngine, text: str) -> list[Action]:
    """What the bot does with `text`, said once consent is given (the first question asked)."""
    policy = engine.policy(clock=lambda: NOW)
    await reply_to_consent(policy, "可以")
    return await policy.on_utterance(Utterance(text, 0.9))


@pytest.mark.parametrize(
    "text",
    [
        "嗯，就是上次数据库挂了，我先看了监控，发现连接池满了，然后我把超时调短，服务就恢复了",
        "数据库挂了，我切到了备库",
        "上次服务器挂了，我重启了",
        "The database went down and I had to say goodbye to the old setup, so I moved us to "
        "managed backups and we have not lost data since",
    ],
)
async def test_an_answer_that_mentions_hanging_up_is_an_answer(
    builtin_engine: BuiltinEngine, text: str
) -> None:
    """挂了 is "went down" as well as "hang up": a story is recorded, the call goes on."""
    actions = await said_after_consent(builtin_engine, text)
    assert any(isinstance(a, RecordAnswer) for a in actions), actions
    assert not any(isinstance(a, Say) and a.kind == "goodbye" for a in actions), actions


@pytest.mark.parametrize("text", ["我先挂了，再见", "不好意思我要挂了", "OK bye", "goodbye"])
async def test_a_real_goodbye_mid_interview_still_ends_the_call(
    builtin_engine: BuiltinEngine, text: str
) -> None:
    actions = await said_after_consent(builtin_engine, text)
    assert any(isinstance(a, Say) and a.kind == "goodbye" for a in actions), actions
