"""Everything the bot says, as jinja2 templates in `prompts/<locale>/<name>.j2`.

A locale that lacks a template falls back to English. Rendered text is folded onto one line,
so templates can wrap freely; an unknown variable is an error, never a silent gap in speech.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jinja2

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
FALLBACK_LOCALE = "en"

_LOCALE = re.compile(r"^[a-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")


class PromptError(LookupError):
    """A prompt that cannot be rendered: missing template, unknown variable, bad locale."""


class Prompts:
    """Loads and renders prompt templates; one instance serves every call in the process."""

    def __init__(self, root: str | Path | None = None, fallback: str = FALLBACK_LOCALE) -> None:
        self.root = Path(root) if root is not None else PROMPTS_DIR
        if not self.root.is_dir():
            raise PromptError(f"prompts directory {self.root} does not exist")
        self.fallback = fallback
        self._envs: dict[str, jinja2.Environment] = {}

    def render(
        self, name: str, context: Mapping[str, Any] | None = None, *, locale: str = "en"
    ) -> str:
        """The text of prompt `name` in `locale`, on one line."""
        try:
            template = self._env(locale).get_template(f"{name}.j2")
        except jinja2.TemplateNotFound:
            raise PromptError(
                f"no prompt template {name!r} for locale {locale!r} "
                f"(looked for {name}.j2 in {', '.join(self._dirs(locale))})"
            ) from None
        except jinja2.TemplateSyntaxError as e:
            raise PromptError(f"prompt {e.filename}, line {e.lineno}: {e.message}") from None
        try:
            text = template.render(**(context or {}))
        except jinja2.UndefinedError as e:
            raise PromptError(f"prompt {locale}/{name}.j2: {e.message}") from None
        return " ".join(text.split())

    def _env(self, locale: str) -> jinja2.Environment:
        env = self._envs.get(locale)
        if env is None:
            if not _LOCALE.match(locale):
                raise PromptError(f"{locale!r} is not a locale such as 'en' or 'zh'")
            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(self._dirs(locale), encoding="utf-8"),
                undefined=jinja2.StrictUndefined,
                autoescape=False,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            self._envs[locale] = env
        return env

    def _dirs(self, locale: str) -> list[str]:
        locales = [locale] if locale == self.fallback else [locale, self.fallback]
        return [str(self.root / loc) for loc in locales]
