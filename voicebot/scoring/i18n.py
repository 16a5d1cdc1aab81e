"""The report's languages: jinja2's i18n extension over Babel message catalogs. The catalogs
are the `.po` files in `locale/<lang>/LC_MESSAGES/report.po`, compiled in memory when first
used (no `.mo` binaries in git, no build step). English is the source language."""

from __future__ import annotations

import functools
import io
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "report"
LANGUAGES = ("en", "zh")


def language(locale: str | None) -> str:
    """The report language for a job's locale: zh for any Chinese locale, else en."""
    return "zh" if (locale or "").lower().startswith("zh") else "en"


def catalog_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def translations(lang: str) -> NullTranslations:
    """The compiled catalog of `lang`; English (and a language without one) untranslated."""
    path = catalog_path(lang)
    if lang == "en" or not path.is_file():
        return NullTranslations()
    with path.open("rb") as f:
        catalog = read_po(f, locale=lang.replace("-", "_"), domain=DOMAIN)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf, domain=DOMAIN)


def gettext(lang: str, message: str) -> str:
    return translations(lang).gettext(message)
