"""The HR report page: one self-contained HTML file (jinja2) rendered from the report JSON —
inline SVG radar of competencies, the delivery curve, a keyword cloud, the transcript with
the evidence highlighted and the knock-out flags. No JavaScript; prints cleanly."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

_env = Environment(
    loader=PackageLoader("voicebot.scoring", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)

RADAR_R = 110.0
RADAR_C = 160.0


def radar(competencies: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Polygon points and axis labels for the assessed competencies (scale 0-5 from centre)."""
    items = list(competencies)
    n = max(3, len(items))  # two competencies still get a triangle's worth of axes
    axes, points, rings = [], [], []
    for i in range(n):
        angle = -math.pi / 2 + 2 * math.pi * i / n
        x, y = math.cos(angle), math.sin(angle)
        item = items[i] if i < len(items) else None
        score = (item or {}).get("score") or 0.0
        points.append(
            f"{RADAR_C + x * RADAR_R * score / 5:.1f},{RADAR_C + y * RADAR_R * score / 5:.1f}"
        )
        axes.append(
            {
                "x2": round(RADAR_C + x * RADAR_R, 1),
                "y2": round(RADAR_C + y * RADAR_R, 1),
                "lx": round(RADAR_C + x * (RADAR_R + 18), 1),
                "ly": round(RADAR_C + y * (RADAR_R + 18) + 4, 1),
                "anchor": "middle" if abs(x) < 0.3 else ("start" if x > 0 else "end"),
                "label": f"{item['name']} {item['score']:.1f}"
                if item and item.get("score") is not None
                else (item["name"] + " –" if item else ""),
            }
        )
    for level in range(1, 6):
        ring = []
        for i in range(n):
            angle = -math.pi / 2 + 2 * math.pi * i / n
            ring.append(
                f"{RADAR_C + math.cos(angle) * RADAR_R * level / 5:.1f},"
                f"{RADAR_C + math.sin(angle) * RADAR_R * level / 5:.1f}"
            )
        rings.append(" ".join(ring))
    return {"axes": axes, "points": " ".join(points), "rings": rings, "size": RADAR_C * 2}


def curve(
    points: Sequence[Mapping[str, Any]], key: str, height: float = 120.0, width: float = 560.0
) -> dict[str, Any] | None:
    """A polyline of `key` over the answers, scaled into the box; None without data."""
    values = [(i, p[key]) for i, p in enumerate(points) if p.get(key) is not None]
    if not values:
        return None
    top = max(v for _, v in values) or 1.0
    n = max(1, len(points) - 1)
    pts = [
        (round(20 + (width - 40) * i / n, 1), round(height - 15 - (height - 30) * v / top, 1), v)
        for i, v in values
    ]
    return {
        "points": " ".join(f"{x},{y}" for x, y, _ in pts),
        "dots": [{"x": x, "y": y, "v": v} for x, y, v in pts],
        "max": top,
        "width": width,
        "height": height,
    }


def highlight(text: str, evidence: Sequence[str]) -> list[tuple[str, bool]]:
    """`text` as (segment, is_evidence) pieces, so the template can mark quotes safely."""
    spans = []
    for e in evidence:
        start = text.find(e)
        if start >= 0:
            spans.append((start, start + len(e)))
    spans.sort()
    out, pos = [], 0
    for start, end in spans:
        if start < pos:
            continue
        if start > pos:
            out.append((text[pos:start], False))
        out.append((text[start:end], True))
        pos = end
    if pos < len(text):
        out.append((text[pos:], False))
    return out


def render_html(report: Mapping[str, Any]) -> str:
    """The report page for HR, from the report JSON (`Report.to_dict()` or the stored copy)."""
    keywords = report.get("keywords", [])
    top = max((k["count"] for k in keywords), default=1)
    delivery = report.get("delivery", {})
    points = delivery.get("curve", [])
    curves = {
        "words_per_minute": curve(points, "words_per_minute"),
        "latency_s": curve(points, "latency_s"),
        "energy_std_db": curve(points, "energy_std_db"),
        "pitch_std_semitones": curve(points, "pitch_std_semitones"),
    }
    transcript = [
        {**t, "segments": highlight(t["text"], t.get("evidence", []))}
        for t in report.get("transcript", [])
    ]
    assessed = [c for c in report.get("competencies", []) if c.get("score") is not None]
    return _env.get_template("report.html.j2").render(
        r=report,
        radar=radar(assessed or report.get("competencies", [])),
        curves={k: v for k, v in curves.items() if v is not None},
        cloud=[{**k, "size": round(0.9 + 1.3 * k["count"] / top, 2)} for k in keywords],
        transcript=transcript,
    )
