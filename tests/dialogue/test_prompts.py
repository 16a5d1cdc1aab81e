"""Prompt templates: every English one renders; failures name what is missing."""

from pathlib import Path

import pytest

from voicebot.dialogue.prompts import PROMPTS_DIR, PromptError, Prompts

CONTEXT = {
    "bot_name": "Ava",
    "company": "Acme Corp",
    "candidate_name": None,
    "job_title": "Backend Engineer",
    "question_count": 4,
    "index": 0,
    "count": 1,
    "text": "How many years of Python experience do you have?",
    "number": 1,
    "total": 4,
    "kind": "salary",
    "missing": "result",
    "when": "Saturday, May 2 at 10:00",
    "topic": "salary",
    "value": "80,000 to 105,000 USD a year",
    "facts": {"summary": "Builds Acme's Python services."},
}


@pytest.mark.parametrize("name", sorted(p.stem for p in (PROMPTS_DIR / "en").glob("*.j2")))
def test_every_english_prompt_renders_on_one_line(name: str) -> None:
    text = Prompts().render(name, CONTEXT)
    assert text and "\n" not in text and "  " not in text
    assert "{" not in text


def test_greeting_names_the_candidate_only_when_known() -> None:
    prompts = Prompts()
    assert prompts.render("greeting", CONTEXT).startswith("Hello, this is Ava, an AI assistant")
    named = prompts.render("greeting", {**CONTEXT, "candidate_name": "Sam"})
    assert named.startswith("Hello Sam, this is Ava")


def test_ack_variants_are_chosen_by_index() -> None:
    prompts = Prompts()
    acks = [prompts.render("ack", {"index": i}) for i in range(8)]
    assert acks[:4] == acks[4:]
    assert len(set(acks)) == 4


def test_missing_template_names_locale_and_name() -> None:
    with pytest.raises(PromptError, match=r"'no_such_prompt'.*'en'"):
        Prompts().render("no_such_prompt", {})


def test_missing_variable_names_the_template() -> None:
    with pytest.raises(PromptError, match=r"en/greeting\.j2.*bot_name"):
        Prompts().render("greeting", {k: v for k, v in CONTEXT.items() if k != "bot_name"})


def test_other_locales_fall_back_to_english(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "zh").mkdir()
    (tmp_path / "en" / "hello.j2").write_text("Hello {{ name }}.\n", encoding="utf-8")
    (tmp_path / "en" / "bye.j2").write_text("Bye.\n", encoding="utf-8")
    (tmp_path / "zh" / "hello.j2").write_text("你好，{{ name }}。\n", encoding="utf-8")
    prompts = Prompts(tmp_path)

    assert prompts.render("hello", {"name": "Sam"}, locale="zh") == "你好，Sam。"
    assert prompts.render("bye", locale="zh") == "Bye."
    assert prompts.render("hello", {"name": "Sam"}) == "Hello Sam."
    with pytest.raises(PromptError, match=r"'nope'.*'zh'"):
        prompts.render("nope", locale="zh")


def test_bad_locale_and_missing_root_are_errors(tmp_path: Path) -> None:
    with pytest.raises(PromptError, match="locale"):
        Prompts().render("greeting", CONTEXT, locale="../en")
    with pytest.raises(PromptError, match="does not exist"):
        Prompts(tmp_path / "missing")


def test_template_syntax_error_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "broken.j2").write_text("Hi {% if x %}", encoding="utf-8")
    with pytest.raises(PromptError, match=r"broken\.j2, line 1"):
        Prompts(tmp_path).render("broken", {"x": 1})


@pytest.mark.parametrize("name", sorted(p.stem for p in (PROMPTS_DIR / "en").glob("*.j2")))
def test_every_prompt_has_its_chinese_version(name: str) -> None:
    """A Chinese call never falls back to English mid-sentence."""
    assert (PROMPTS_DIR / "zh" / f"{name}.j2").exists()
    text = Prompts().render(name, CONTEXT, locale="zh")
    assert text and "\n" not in text
    if name != "question":  # the question itself is the job's text, English here
        assert any("\u4e00" <= c <= "\u9fff" for c in text)
