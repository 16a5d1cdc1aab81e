"""The report as PDF, by WeasyPrint from the same HTML page (its print CSS applies: tables and
ratings kept whole, the recording's address instead of the player). WeasyPrint and its
Pango libraries are loaded only when a PDF is asked for."""

from __future__ import annotations

import logging
from pathlib import Path

# WeasyPrint warns of every CSS property it does not implement (SVG's `fill`): not the user's
# business, and a PDF is still written
logging.getLogger("weasyprint").setLevel(logging.ERROR)
logging.getLogger("fontTools").setLevel(logging.ERROR)


class PdfError(RuntimeError):
    """The PDF could not be made: WeasyPrint or its system libraries missing, or unwritable."""


def write_pdf(html: str, path: str | Path) -> Path:
    """Render `html` to the PDF file `path`; returns the path."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as e:  # OSError: Pango or its friends not installed
        raise PdfError(
            f"PDF export needs WeasyPrint and Pango (scripts/setup.sh installs both): {e}"
        ) from e
    out = Path(path)
    try:
        HTML(string=html, base_url=str(out.parent)).write_pdf(out)
    except OSError as e:
        raise PdfError(f"{out}: {e.strerror or e}") from e
    return out
