"""The built-in engine, driven turn by turn with scripted utterances and events."""

import shutil
from pathlib import Path

import pytest

from voicebot.dialogue.builtin import (
    RASA_PROJECT,
    BuiltinEngine,
    BuiltinPolicy,
    ProjectError,
    RasaProject,
    nlu_split,
)
from voicebot.dialogue.policy import (
    Hangup,
    InterviewContext,
    KeyPress,
    RecordAnswer,
    RecordConsent,
    RecordOptOut,
    Say,
    Silence,
    Utterance,
)
from voicebot.interview.plan import InterviewPlan, Job, Question, load_job

EXAMPLE_JOB = Path(__file__).resolve().parents[2] / "examples" / "jobs" / "backend-engineer.yaml"


@pytest.fixture
def plan() -> InterviewPlan:
    return InterviewPlan.from_job(load_job(EXAMPLE_JOB))


@pytest.fixture
async def policy(plan: InterviewPlan) -> BuiltinPolicy:
    policy = BuiltinPolicy()
    await policy.start(InterviewContext("call-1", plan, company="Acme Corp", bot_name="Ava"))
    return policy


def said(actions: list) -> Say:
    (say,) = [a for a in actions if isinstance(a, Say)]
    return say


def hangups(actions: list) -> list[Hangup]:
    return [a for a in actions if isinstance(a, Hangup)]


async def test_start_discloses_ai_uninterruptibly_then_asks_consent(plan: InterviewPlan) -> None:
    ctx = InterviewContext("c", plan, company="Acme Corp", bot_name="Ava", candidate_name="Sam")
    greeting, consent = await BuiltinPolicy().start(ctx)

    assert greeting.kind == "greeting" and not greeting.interruptible and not greeting.listen
    assert greeting.text.startswith("Hello Sam, this is Ava, an AI assistant")
    assert "Acme Corp" in greeting.text and "Backend Engineer" in greeting.text
    assert "recorded" in greeting.text and "not a person" in greeting.text
    assert consent.kind == "consent" and consent.listen and consent.interruptible


async def test_happy_path_records_every_answer_against_its_question(
    policy: BuiltinPolicy, plan: InterviewPlan
) -> None:
    ids = [q.id for q in plan.questions]
    answers = [
        "About ninety thousand.",
        "One month.",
        "Six years.",
        "Our API went down once, I rolled it back and it was fixed.",
    ]

    actions = await policy.on_utterance(Utterance("Yeah, sure."))
    assert actions[0] == RecordConsent(True)
    ask = said(actions)
    assert (ask.kind, ask.question_id, ask.listen) == ("ask", ids[0], True)
    assert ask.text.endswith(plan.questions[0].text)

    recorded = []
    for i, answer in enumerate(answers):
        actions = await policy.on_utterance(Utterance(answer, confidence=0.9))
        recorded.append(actions[0])
        if i + 1 < len(ids):
            ask = said(actions)
            assert (ask.kind, ask.question_id, ask.listen) == ("ask", ids[i + 1], True)
            assert plan.questions[i + 1].text in ask.text
            assert not policy.finished

    assert recorded == [RecordAnswer(q, a, 0.9) for q, a in zip(ids, answers, strict=True)]
    goodbye = said(actions)
    assert goodbye.kind == "goodbye" and not goodbye.listen
    assert actions[-1] == Hangup("completed")
    assert policy.finished
    assert await policy.on_utterance(Utterance("hello?")) == []
    assert await policy.on_event(Silence(1)) == []


async def test_acknowledgements_vary_between_questions(
    policy: BuiltinPolicy, plan: InterviewPlan
) -> None:
    await policy.on_utterance(Utterance("yes"))
    leads = []
    for i in range(len(plan.questions) - 1):
        ask = said(await policy.on_utterance(Utterance("When it broke I fixed it and it worked.")))
        leads.append(ask.text.split(plan.questions[i + 1].text)[0])
    assert len(set(leads)) > 1


@pytest.mark.parametrize("answer", ["No.", "No, not now.", "nope", "I don't agree"])
async def test_no_consent_says_goodbye_and_hangs_up(policy: BuiltinPolicy, answer: str) -> None:
    actions = await policy.on_utterance(Utterance(answer))

    assert actions[0] == RecordConsent(False)
    assert said(actions).kind == "goodbye"
    assert actions[-1] == Hangup("no_consent")
    assert policy.finished


async def test_unclear_consent_is_asked_again_then_yes_goes_on(
    policy: BuiltinPolicy, plan: InterviewPlan
) -> None:
    again = await policy.on_utterance(Utterance(""))
    assert len(again) == 1
    assert again[0].kind == "consent" and again[0].listen

    actions = await policy.on_utterance(Utterance("Okay, go ahead."))
    assert actions[0] == RecordConsent(True)
    assert said(actions).question_id == plan.questions[0].id


async def test_second_unclear_consent_counts_as_no(policy: BuiltinPolicy) -> None:
    await policy.on_utterance(Utterance("hmm, well, I'm not sure"))
    actions = await policy.on_utterance(Utterance(""))

    assert actions[0] == RecordConsent(False)
    assert actions[-1] == Hangup("no_consent")


@pytest.mark.parametrize("digit, given", [("1", True), ("2", False)])
async def test_consent_by_keypad(policy: BuiltinPolicy, digit: str, given: bool) -> None:
    assert await policy.on_event(KeyPress("5")) == []
    actions = await policy.on_event(KeyPress(digit))

    assert actions[0] == RecordConsent(given)
    assert hangups(actions) == ([] if given else [Hangup("no_consent")])
    assert await policy.on_event(KeyPress("1")) == []  # no longer a consent answer


async def test_keypad_digits_are_not_answers_to_questions(policy: BuiltinPolicy) -> None:
    await policy.on_event(KeyPress("1"))
    assert await policy.on_event(KeyPress("2")) == []
    assert not policy.finished


@pytest.mark.parametrize(
    "request_",
    ["Sorry, could you repeat that?", "Pardon?", "Come again?", "I didn't catch that"],
)
async def test_repeat_request_repeats_the_question_without_recording(
    policy: BuiltinPolicy, plan: InterviewPlan, request_: str
) -> None:
    await policy.on_utterance(Utterance("yes"))
    question = plan.questions[0]

    (say,) = await policy.on_utterance(Utterance(request_))
    assert (say.kind, say.question_id, say.listen) == ("repeat", question.id, True)
    assert say.text.endswith(question.text)

    actions = await policy.on_utterance(Utterance("Ninety thousand."))
    assert actions[0] == RecordAnswer(question.id, "Ninety thousand.")


async def test_star_key_repeats_consent_and_questions(
    policy: BuiltinPolicy, plan: InterviewPlan
) -> None:
    (say,) = await policy.on_event(KeyPress("*"))
    assert say.kind == "repeat" and say.listen and say.question_id is None
    await policy.on_event(KeyPress("1"))
    (say,) = await policy.on_event(KeyPress("*"))
    assert say.question_id == plan.questions[0].id and say.text.endswith(plan.questions[0].text)


async def test_a_long_answer_mentioning_repeat_is_an_answer(policy: BuiltinPolicy) -> None:
    await policy.on_utterance(Utterance("yes"))
    answer = "We had to repeat the migration twice before the database came back up"
    assert (await policy.on_utterance(Utterance(answer)))[0] == RecordAnswer("salary", answer)


async def test_empty_answer_is_asked_again_not_recorded(policy: BuiltinPolicy) -> None:
    await policy.on_utterance(Utterance("yes"))

    (say,) = await policy.on_utterance(Utterance(""))
    assert (say.kind, say.question_id, say.listen) == ("repeat", "salary", True)
    (say,) = await policy.on_utterance(Utterance(" ... "))
    assert say.kind == "repeat"
    assert (await policy.on_utterance(Utterance("Eighty.")))[0] == RecordAnswer("salary", "Eighty.")


async def test_answers_that_never_come_through_end_the_call(policy: BuiltinPolicy) -> None:
    await policy.on_utterance(Utterance("yes"))
    for _ in range(2):
        assert said(await policy.on_utterance(Utterance(""))).kind == "repeat"
    actions = await policy.on_utterance(Utterance(""))
    assert said(actions).kind == "goodbye"
    assert actions[-1] == Hangup("unclear")


async def test_silence_reprompts_twice_then_ends(
    policy: BuiltinPolicy, plan: InterviewPlan
) -> None:
    await policy.on_utterance(Utterance("yes"))
    question = plan.questions[0]

    texts = []
    for count in (1, 2):
        (say,) = await policy.on_event(Silence(count))
        assert (say.kind, say.question_id, say.listen) == ("reprompt", question.id, True)
        assert say.text.endswith(question.text)
        texts.append(say.text)
    assert texts[0] != texts[1]

    actions = await policy.on_event(Silence(3))
    assert said(actions).kind == "goodbye"
    assert actions[-1] == Hangup("silence")
    assert not [a for a in actions if isinstance(a, RecordAnswer)]
    assert policy.finished


async def test_silence_during_consent_reprompts_consent(policy: BuiltinPolicy) -> None:
    (say,) = await policy.on_event(Silence(1))
    assert say.kind == "reprompt" and say.question_id is None and say.listen
    assert (await policy.on_event(Silence(3)))[-1] == Hangup("silence")


async def test_max_reprompts_comes_from_the_context(plan: InterviewPlan) -> None:
    policy = BuiltinPolicy()
    await policy.start(InterviewContext("c", plan, "Acme Corp", "Ava", max_reprompts=0))
    assert (await policy.on_event(Silence(1)))[-1] == Hangup("silence")


@pytest.mark.parametrize("words", ["Please stop calling me.", "Take me off your list."])
async def test_opt_out_ends_politely(policy: BuiltinPolicy, words: str) -> None:
    await policy.on_utterance(Utterance("yes"))
    actions = await policy.on_utterance(Utterance(words))

    assert said(actions).kind == "goodbye"
    assert actions[-1] == Hangup("opted_out")
    assert not [a for a in actions if isinstance(a, RecordAnswer)]


async def test_opt_out_before_consent_records_no_consent(policy: BuiltinPolicy) -> None:
    actions = await policy.on_utterance(Utterance("Don't call me again."))
    assert actions[0] == RecordConsent(False)
    assert actions[-1] == Hangup("opted_out")


async def test_a_plan_with_one_question() -> None:
    job = Job(
        "j", "Tester", "Acme Corp", "en", [Question("q1", "Can you start on Monday?", "yes_no")]
    )
    policy = BuiltinPolicy()
    await policy.start(InterviewContext("c", InterviewPlan.from_job(job), "Acme Corp", "Ava"))

    ask = said(await policy.on_utterance(Utterance("yes")))
    assert ask.text.endswith("Can you start on Monday?") and "last" not in ask.text
    actions = await policy.on_utterance(Utterance("No."))
    assert actions[0] == RecordAnswer("q1", "No.")
    assert actions[-1] == Hangup("completed")


async def test_events_before_start_are_a_programming_error() -> None:
    with pytest.raises(RuntimeError, match="start"):
        await BuiltinPolicy().on_utterance(Utterance("yes"))


@pytest.mark.parametrize(
    "text, intent",
    [
        ("Yes.", "affirm"),
        ("Yeah, go ahead!", "affirm"),
        ("That's fine", "affirm"),
        ("I don't mind", "affirm"),
        ("好的，没问题", "affirm"),
        ("No.", "deny"),
        ("of course not", "deny"),
        ("I do not agree", "deny"),
        ("不同意", "deny"),
        ("Not right now, I'm busy.", "not_a_good_time"),
        ("I'm not sure", "dont_know"),
        ("Say that again, please.", "repeat_question"),
        ("Stop calling me", "opt_out"),
        ("别再给我打电话了", "opt_out"),
        ("Can I talk to a human?", "human_please"),
        ("How much does this job pay?", "ask_about_job"),
        ("About ninety thousand a year", "inform"),
    ],
)
def test_intents(engine: BuiltinEngine, text: str, intent: str) -> None:
    assert engine.classify(text).intent == intent


@pytest.fixture(scope="module")
def engine() -> BuiltinEngine:
    return BuiltinEngine()


async def test_goodbye_mid_interview_ends_early_without_opting_out(policy: BuiltinPolicy) -> None:
    await policy.on_utterance(Utterance("Yes."))
    actions = await policy.on_utterance(Utterance("Sorry, I have to go now, bye."))

    assert actions[-1] == Hangup("ended_early")
    assert not any(isinstance(a, RecordOptOut) for a in actions)


async def test_us_compliance_adds_a_recording_notice_after_the_ai_disclosure(
    plan: InterviewPlan,
) -> None:
    ctx = InterviewContext("c", plan, company="Acme Corp", bot_name="Ava", compliance="us")
    greeting, notice, consent = await BuiltinPolicy().start(ctx)

    assert "not a person" in greeting.text and not greeting.interruptible
    assert "being recorded" in notice.text and not notice.interruptible
    assert consent.kind == "consent"


async def test_chinese_prompts_for_a_chinese_call(plan: InterviewPlan) -> None:
    ctx = InterviewContext("c", plan, company="Acme 科技", bot_name="Ava", locale="zh")
    greeting, consent = await BuiltinPolicy().start(ctx)

    assert "人工智能" in greeting.text and "不是真人" in greeting.text
    assert "可以继续" in consent.text


def test_a_rule_for_an_unknown_action_is_named(tmp_path: Path) -> None:
    project = tmp_path / "p"
    shutil.copytree(RASA_PROJECT, project, ignore=shutil.ignore_patterns("models"))
    rules = project / "data" / "rules.yml"
    rules.write_text(rules.read_text().replace("action_opt_out", "action_missing", 1))

    with pytest.raises(ProjectError, match=r"rules.yml: action 'action_missing' not in domain"):
        RasaProject.load(project)


def test_held_out_nlu_examples_are_mostly_understood() -> None:
    """The benchmark's split: trained on 4/5 of nlu.yml, most of the rest is classified right."""
    project = RasaProject.load()
    train, test = nlu_split(project.examples)
    engine = BuiltinEngine(project, examples=train)
    right = sum(engine.classifier.predict(text).intent == intent for text, intent in test)
    assert right / len(test) >= 0.8


async def test_asking_to_repeat_a_follow_up_repeats_the_follow_up(policy: BuiltinPolicy) -> None:
    for answer in ("Yes.", "About 90k a year.", "Two weeks.", "Six years."):
        await policy.on_utterance(Utterance(answer))
    follow = said(await policy.on_utterance(Utterance("I looked at the logs once.")))
    again = said(await policy.on_utterance(Utterance("Sorry, could you repeat that?")))

    assert follow.kind == "followup"
    assert again.kind == "repeat" and follow.text in again.text
    actions = await policy.on_utterance(Utterance("It worked and the errors stopped."))
    (answer,) = [a for a in actions if isinstance(a, RecordAnswer)]
    assert answer.text == "I looked at the logs once. It worked and the errors stopped."


@pytest.mark.parametrize(
    "result",
    [
        "It got failures by half and we kept working together on the rest.",
        "Errors dropped from 40 to 3 a day.",
        "After a week the timeouts stopped.",
    ],
)
async def test_a_story_whose_result_is_told_in_other_words_gets_no_follow_up(
    policy: BuiltinPolicy, result: str
) -> None:
    """A misheard verb ("got" for "cut") or a plain "dropped" still ends a STAR story."""
    for answer in ("Yes.", "About 90k a year.", "Two weeks.", "Six years."):
        await policy.on_utterance(Utterance(answer))
    story = f"Last year our queue worker kept timing out. I profiled it and fixed a lock. {result}"
    assert said(await policy.on_utterance(Utterance(story))).kind != "followup"


async def test_a_story_that_stops_at_the_action_is_asked_for_its_result(
    policy: BuiltinPolicy,
) -> None:
    for answer in ("Yes.", "About 90k a year.", "Two weeks.", "Six years."):
        await policy.on_utterance(Utterance(answer))
    story = "Last year our queue worker kept timing out. I profiled it and rewrote the lock."
    follow = said(await policy.on_utterance(Utterance(story)))
    assert follow.kind == "followup" and "turn out" in follow.text
