"""The report's Chinese catalog is complete: every message of the page (template and the
labels in report.py, found by Babel's own extractors) has a translation with the same
placeholders, so a zh report never falls back to an English phrase."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_file

import voicebot.scoring.report as report_module
from voicebot.scoring.i18n import catalog_path, translations

TEMPLATE = Path(report_module.__file__).with_name("templates") / "report.html.j2"


def page_messages() -> set[str]:
    options = {"extensions": "jinja2.ext.i18n", "trim_blocks": "true", "lstrip_blocks": "true"}
    found = {m[1] for m in extract_from_file("jinja2.ext:babel_extract", TEMPLATE, options=options)}
    found |= {m[1] for m in extract_from_file("python", report_module.__file__, {"N_": None})}
    return {m for m in found if isinstance(m, str)}


def test_every_message_of_the_page_has_a_chinese_translation() -> None:
    messages = page_messages()
    assert len(messages) > 50 and "Transcript" in messages and "no decision" in messages
    zh = translations("zh")
    untranslated = sorted(m for m in messages if zh.gettext(m) == m)
    assert untranslated == [], f"add to {catalog_path('zh')}"
    for m in messages:
        assert sorted(re.findall(r"%\(\w+\)s", zh.gettext(m))) == sorted(
            re.findall(r"%\(\w+\)s", m)
        ), m


def test_english_is_the_source_and_an_unknown_language_falls_back_to_it() -> None:
    assert translations("en").gettext("Transcript") == "Transcript"
    assert translations("fr").gettext("Transcript") == "Transcript"
    assert translations("zh").gettext("Transcript") == "通话记录"


def test_every_rule_the_rubric_can_give_is_one_the_page_translates() -> None:
    """A new rule in rubric.rate without its entry in report.RULES would show in English on a
    Chinese report."""
    import voicebot.scoring.rubric as rubric

    given = set(re.findall(r'level, rule = \d, "([^"]+)"', Path(rubric.__file__).read_text()))
    given |= set(re.findall(r'\(\d, "([^"]+)"\)', Path(rubric.__file__).read_text()))
    assert len(given) >= 10
    assert given <= set(report_module.RULES), given - set(report_module.RULES)
