"""The built-in policy, driven turn by turn with scripted utterances and events."""

from pathlib import Path

import pytest

from voicebot.dialogue.builtin import BuiltinPolicy, IntentMatcher
from voicebot.dialogue.policy import (
    Hangup,
    InterviewContext,
    KeyPress,
    RecordAnswer,
    RecordConsent,
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
def policy(plan: InterviewPlan) -> BuiltinPolicy:
    policy = BuiltinPolicy()
    policy.start(InterviewContext("call-1", plan, company="Acme Corp", bot_name="Ava"))
    return policy


def said(actions: list) -> Say:
    (say,) = [a for a in actions if isinstance(a, Say)]
    return say


def hangups(actions: list) -> list[Hangup]:
    return [a for a in actions if isinstance(a, Hangup)]


def test_start_discloses_ai_uninterruptibly_then_asks_consent(plan: InterviewPlan) -> None:
    ctx = InterviewContext("c", plan, company="Acme Corp", bot_name="Ava", candidate_name="Sam")
    greeting, consent = BuiltinPolicy().start(ctx)

    assert greeting.kind == "greeting" and not greeting.interruptible and not greeting.listen
    assert greeting.text.startswith("Hello Sam, this is Ava, an AI assistant")
    assert "Acme Corp" in greeting.text and "Backend Engineer" in greeting.text
    assert "recorded" in greeting.text and "not a person" in greeting.text
    assert consent.kind == "consent" and consent.listen and consent.interruptible


def test_happy_path_records_every_answer_against_its_question(
    policy: BuiltinPolicy, plan: InterviewPlan
) -> None:
    ids = [q.id for q in plan.questions]
    answers = ["About ninety thousand.", "One month.", "Six years.", "Our API went down once..."]

    actions = policy.on_utterance(Utterance("Yeah, sure."))
    assert actions[0] == RecordConsent(True)
    ask = said(actions)
    assert (ask.kind, ask.question_id, ask.listen) == ("ask", ids[0], True)
    assert ask.text.endswith(plan.questions[0].text)

    recorded = []
    for i, answer in enumerate(answers):
        actions = policy.on_utterance(Utterance(answer, confidence=0.9))
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
    assert policy.on_utterance(Utterance("hello?")) == []
    assert policy.on_event(Silence(1)) == []


def test_acknowledgements_vary_between_questions(
    policy: BuiltinPolicy, plan: InterviewPlan
) -> None:
    policy.on_utterance(Utterance("yes"))
    leads = []
    for i in range(len(plan.questions) - 1):
        ask = said(policy.on_utterance(Utterance("an answer")))
        leads.append(ask.text.split(plan.questions[i + 1].text)[0])
    assert len(set(leads)) > 1


@pytest.mark.parametrize("answer", ["No.", "No, not now.", "nope", "I don't agree"])
def test_no_consent_says_goodbye_and_hangs_up(policy: BuiltinPolicy, answer: str) -> None:
    actions = policy.on_utterance(Utterance(answer))

    assert actions[0] == RecordConsent(False)
    assert said(actions).kind == "goodbye"
    assert actions[-1] == Hangup("no_consent")
    assert policy.finished


def test_unclear_consent_is_asked_again_then_yes_goes_on(
    policy: BuiltinPolicy, plan: InterviewPlan
) -> None:
    again = policy.on_utterance(Utterance("Who is this?"))
    assert len(again) == 1
    assert again[0].kind == "consent" and again[0].listen

    actions = policy.on_utterance(Utterance("Okay, go ahead."))
    assert actions[0] == RecordConsent(True)
    assert said(actions).question_id == plan.questions[0].id


def test_second_unclear_consent_counts_as_no(policy: BuiltinPolicy) -> None:
    policy.on_utterance(Utterance("hmm, well, I'm not sure"))
    actions = policy.on_utterance(Utterance(""))

    assert actions[0] == RecordConsent(False)
    assert actions[-1] == Hangup("no_consent")


@pytest.mark.parametrize("digit, given", [("1", True), ("2", False)])
def test_consent_by_keypad(policy: BuiltinPolicy, digit: str, given: bool) -> None:
    assert policy.on_event(KeyPress("5")) == []
    actions = policy.on_event(KeyPress(digit))

    assert actions[0] == RecordConsent(given)
    assert hangups(actions) == ([] if given else [Hangup("no_consent")])
    assert policy.on_event(KeyPress("1")) == []  # no longer a consent answer


def test_keypad_digits_are_not_answers_to_questions(policy: BuiltinPolicy) -> None:
    policy.on_event(KeyPress("1"))
    assert policy.on_event(KeyPress("2")) == []
    assert not policy.finished


@pytest.mark.parametrize(
    "request_",
    ["Sorry, could you repeat that?", "Pardon?", "Come again?", "what?", "I didn't catch that"],
)
def test_repeat_request_repeats_the_question_without_recording(
    policy: BuiltinPolicy, plan: InterviewPlan, request_: str
) -> None:
    policy.on_utterance(Utterance("yes"))
    question = plan.questions[0]

    (say,) = policy.on_utterance(Utterance(request_))
    assert (say.kind, say.question_id, say.listen) == ("repeat", question.id, True)
    assert say.text.endswith(question.text)

    actions = policy.on_utterance(Utterance("Ninety thousand."))
    assert actions[0] == RecordAnswer(question.id, "Ninety thousand.")


def test_star_key_repeats_consent_and_questions(policy: BuiltinPolicy, plan: InterviewPlan) -> None:
    (say,) = policy.on_event(KeyPress("*"))
    assert say.kind == "repeat" and say.listen and say.question_id is None
    policy.on_event(KeyPress("1"))
    (say,) = policy.on_event(KeyPress("*"))
    assert say.question_id == plan.questions[0].id and say.text.endswith(plan.questions[0].text)


def test_a_long_answer_mentioning_repeat_is_an_answer(policy: BuiltinPolicy) -> None:
    policy.on_utterance(Utterance("yes"))
    answer = "We had to repeat the migration twice before the database came back up"
    assert policy.on_utterance(Utterance(answer))[0] == RecordAnswer("salary", answer)


def test_empty_answer_is_asked_again_not_recorded(policy: BuiltinPolicy) -> None:
    policy.on_utterance(Utterance("yes"))

    (say,) = policy.on_utterance(Utterance(""))
    assert (say.kind, say.question_id, say.listen) == ("repeat", "salary", True)
    (say,) = policy.on_utterance(Utterance(" ... "))
    assert say.kind == "repeat"
    assert policy.on_utterance(Utterance("Eighty."))[0] == RecordAnswer("salary", "Eighty.")


def test_answers_that_never_come_through_end_the_call(policy: BuiltinPolicy) -> None:
    policy.on_utterance(Utterance("yes"))
    for _ in range(2):
        assert said(policy.on_utterance(Utterance(""))).kind == "repeat"
    actions = policy.on_utterance(Utterance(""))
    assert said(actions).kind == "goodbye"
    assert actions[-1] == Hangup("unclear")


def test_silence_reprompts_twice_then_ends(policy: BuiltinPolicy, plan: InterviewPlan) -> None:
    policy.on_utterance(Utterance("yes"))
    question = plan.questions[0]

    texts = []
    for count in (1, 2):
        (say,) = policy.on_event(Silence(count))
        assert (say.kind, say.question_id, say.listen) == ("reprompt", question.id, True)
        assert say.text.endswith(question.text)
        texts.append(say.text)
    assert texts[0] != texts[1]

    actions = policy.on_event(Silence(3))
    assert said(actions).kind == "goodbye"
    assert actions[-1] == Hangup("silence")
    assert not [a for a in actions if isinstance(a, RecordAnswer)]
    assert policy.finished


def test_silence_during_consent_reprompts_consent(policy: BuiltinPolicy) -> None:
    (say,) = policy.on_event(Silence(1))
    assert say.kind == "reprompt" and say.question_id is None and say.listen
    assert policy.on_event(Silence(3))[-1] == Hangup("silence")


def test_max_reprompts_comes_from_the_context(plan: InterviewPlan) -> None:
    policy = BuiltinPolicy()
    policy.start(InterviewContext("c", plan, "Acme Corp", "Ava", max_reprompts=0))
    assert policy.on_event(Silence(1))[-1] == Hangup("silence")


@pytest.mark.parametrize("words", ["Please stop calling me.", "Bye.", "okay goodbye"])
def test_opt_out_ends_politely(policy: BuiltinPolicy, words: str) -> None:
    policy.on_utterance(Utterance("yes"))
    actions = policy.on_utterance(Utterance(words))

    assert said(actions).kind == "goodbye"
    assert actions[-1] == Hangup("opted_out")
    assert not [a for a in actions if isinstance(a, RecordAnswer)]


def test_opt_out_before_consent_records_no_consent(policy: BuiltinPolicy) -> None:
    actions = policy.on_utterance(Utterance("Don't call me again."))
    assert actions[0] == RecordConsent(False)
    assert actions[-1] == Hangup("opted_out")


def test_a_plan_with_one_question() -> None:
    job = Job(
        "j", "Tester", "Acme Corp", "en", [Question("q1", "Can you start on Monday?", "yes_no")]
    )
    policy = BuiltinPolicy()
    policy.start(InterviewContext("c", InterviewPlan.from_job(job), "Acme Corp", "Ava"))

    ask = said(policy.on_utterance(Utterance("yes")))
    assert ask.text.endswith("Can you start on Monday?") and "last" not in ask.text
    actions = policy.on_utterance(Utterance("No."))
    assert actions[0] == RecordAnswer("q1", "No.")
    assert actions[-1] == Hangup("completed")


def test_events_before_start_are_a_programming_error() -> None:
    with pytest.raises(RuntimeError, match="start"):
        BuiltinPolicy().on_utterance(Utterance("yes"))


@pytest.mark.parametrize(
    "text, intents",
    [
        ("Yes.", {"yes"}),
        ("Yeah, go ahead!", {"yes"}),
        ("OK", {"yes"}),
        ("That's fine", {"yes"}),
        ("I don't mind", {"yes"}),
        ("no problem", {"yes"}),
        ("No.", {"no"}),
        ("not okay", {"no"}),
        ("of course not", {"no"}),
        ("I do not agree", {"no"}),
        ("Not right now, I'm busy.", {"no"}),
        ("I'm not sure", {"unsure"}),
        ("Sorry?", {"repeat"}),
        ("Say that again, please.", {"repeat"}),
        ("Hello? Are you there?", {"repeat"}),
        ("Stop calling me", {"opt_out"}),
        ("", set()),
        ("About ninety thousand a year", set()),
    ],
)
def test_intents(text: str, intents: set[str]) -> None:
    assert IntentMatcher().match(text) == intents
