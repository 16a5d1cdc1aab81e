"""`/docs` (Swagger UI) and `/redoc` render their operations in a real browser with every
request off the machine refused: nothing comes from a CDN, so they work offline."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from tests.console.conftest import Served
from tests.console.test_console_browser import _shot

pytestmark = pytest.mark.browser


def _offline(page: Page) -> list[str]:
    """Abort every request that would leave 127.0.0.1; returns what was refused."""
    refused: list[str] = []

    def handle(route: Route) -> None:
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    page.route("**/*", handle)
    return refused


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_the_api_docs_render_their_operations_offline(
    page: Page, served: Served, path: str
) -> None:
    refused = _offline(page)
    response = page.goto(served.url + path)
    assert response is not None and response.status == 200
    if path == "/docs":
        operations = page.locator(".opblock")
        expect(operations.first).to_be_visible(timeout=30_000)
        assert operations.count() >= 20
        paths = page.locator(".opblock-summary-path").filter(has_text="/campaigns")
        expect(paths.first).to_be_visible()
    else:
        expect(page.locator("body")).to_contain_text("voicebot HR API", timeout=30_000)
        operations = page.locator("[data-section-id^='tag/'], [data-section-id^='operation/']")
        expect(operations.first).to_be_attached(timeout=30_000)
        assert operations.count() >= 20
    expect(page.locator("body")).to_contain_text("/campaigns")
    _shot(page, served, path.strip("/"))
    assert refused == [], refused
