"""Reads a rendered report page as a person sees it: visible text, headings, fields, tags."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import ClassVar


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Page:
    elements: list[Element] = field(default_factory=list)
    visible: str = ""
    style: str = ""

    def all(self, tag: str, **attrs: str) -> list[Element]:
        return [
            e
            for e in self.elements
            if e.tag == tag and all(e.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())
        ]

    def field(self, name: str) -> str:
        (e,) = [e for e in self.elements if e.attrs.get("data-field") == name]
        return " ".join(e.text.split())

    def headings(self, tag: str = "h2") -> list[str]:
        return [" ".join(e.text.split()) for e in self.all(tag)]


class _Reader(HTMLParser):
    VOID: ClassVar[set[str]] = {
        "meta",
        "br",
        "line",
        "circle",
        "rect",
        "polygon",
        "polyline",
        "img",
        "source",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self.open: list[Element] = []
        self.skip = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        e = Element(tag, {k: v or "" for k, v in attrs})
        self.page.elements.append(e)
        if tag in ("style", "title"):
            self.skip += 1
        if tag not in self.VOID:
            self.open.append(e)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.elements.append(Element(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "title"):
            self.skip -= 1
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i].tag == tag:
                del self.open[i:]
                break

    def handle_data(self, data: str) -> None:
        if self.open and self.open[-1].tag == "style":
            self.page.style += data
        for e in self.open:
            e.text += data
        if not self.skip:
            self.parts.append(data)


def read(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    reader.page.visible = " ".join(" ".join(reader.parts).split())
    return reader.page
