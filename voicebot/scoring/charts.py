"""Geometry of the report's inline SVG charts: a radar of 3+ competencies and bars for fewer,
both on the rating scale 1-5 (1 at the origin: there is no level 0), and the delivery curves
with their axes. Numbers only; the template draws and labels them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

SCALE = (1, 2, 3, 4, 5)
RADAR_MIN_AXES = 3  # with fewer a radar draws axes that stand for nothing: bars instead
RADAR_R = 110.0
RADAR_C = 160.0


def _on_scale(score: float) -> float:
    """Share of the way from 1 to 5, clamped."""
    return (min(5.0, max(1.0, score)) - 1.0) / 4.0


def radar(competencies: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Polygon, rings and axis labels for 3+ assessed competencies; None for fewer."""
    items = [c for c in competencies if c.get("score") is not None]
    n = len(items)
    if n < RADAR_MIN_AXES:
        return None
    unit = [
        (math.cos(-math.pi / 2 + 2 * math.pi * i / n), math.sin(-math.pi / 2 + 2 * math.pi * i / n))
        for i in range(n)
    ]

    def at(i: int, share: float) -> str:
        x, y = unit[i]
        return f"{RADAR_C + x * RADAR_R * share:.1f},{RADAR_C + y * RADAR_R * share:.1f}"

    axes = []
    for (x, y), item in zip(unit, items, strict=True):
        axes.append(
            {
                "x2": round(RADAR_C + x * RADAR_R, 1),
                "y2": round(RADAR_C + y * RADAR_R, 1),
                "lx": round(RADAR_C + x * (RADAR_R + 18), 1),
                "ly": round(RADAR_C + y * (RADAR_R + 18) + 4, 1),
                "anchor": "middle" if abs(x) < 0.3 else ("start" if x > 0 else "end"),
                "name": item["name"],
                "score": float(item["score"]),
            }
        )
    rings = [
        {
            "level": level,
            "points": " ".join(at(i, _on_scale(level)) for i in range(n)),
            "ly": round(RADAR_C - RADAR_R * _on_scale(level), 1),
        }
        for level in SCALE
    ]
    return {
        "axes": axes,
        "points": " ".join(at(i, _on_scale(float(c["score"]))) for i, c in enumerate(items)),
        "rings": rings,
        "centre": RADAR_C,
        "size": RADAR_C * 2,
    }


def bars(
    competencies: Sequence[Mapping[str, Any]], width: float = 540.0, label_w: float = 170.0
) -> dict[str, Any] | None:
    """Horizontal bars from 1 to each score with a 1-5 axis; for one or two competencies."""
    items = [c for c in competencies if c.get("score") is not None]
    if not items or len(items) >= RADAR_MIN_AXES:
        return None
    span = width - label_w - 40  # room for the score after a full bar

    def x(score: float) -> float:
        return round(label_w + span * _on_scale(score), 1)

    rows = [
        {
            "name": c["name"],
            "score": float(c["score"]),
            "y": 10 + 30 * i,
            "x": x(1),
            "w": round(max(2.0, x(float(c["score"])) - x(1)), 1),
        }
        for i, c in enumerate(items)
    ]
    axis_y = 10 + 30 * len(items) + 4
    return {
        "rows": rows,
        "ticks": [{"level": lv, "x": x(lv)} for lv in SCALE],
        "axis_y": axis_y,
        "x0": x(1),
        "x1": x(5),
        "width": width,
        "height": axis_y + 34,
    }


def _nice_top(top: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above `top` (axis maximum)."""
    if top <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(top))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= top - 1e-9)


def curve(
    points: Sequence[Mapping[str, Any]],
    key: str,
    height: float = 170.0,
    width: float = 420.0,
) -> dict[str, Any] | None:
    """A line of `key` over the answers with a y axis from 0 (three ticks) and an x axis at
    each answer's time in the call; None without data."""
    values = [(i, float(p[key])) for i, p in enumerate(points) if p.get(key) is not None]
    if not values:
        return None
    left, right, top_pad, bottom = 60.0, 24.0, 26.0, 40.0
    inset = 18.0  # the first and last points clear of the axes and their labels
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    top = _nice_top(max(v for _, v in values))
    n = max(1, len(points) - 1)

    def x(i: int) -> float:
        share = i / n if len(points) > 1 else 0.5
        return round(left + inset + (plot_w - 2 * inset) * share, 1)

    def y(v: float) -> float:
        return round(top_pad + plot_h * (1 - v / top), 1)

    dots = [{"x": x(i), "y": y(v), "v": v} for i, v in values]
    return {
        "points": " ".join(f"{d['x']},{d['y']}" for d in dots),
        "dots": dots,
        "y_ticks": [{"v": v, "y": y(v)} for v in (0.0, top / 2, top)],
        "x_ticks": [{"x": x(i), "t": p.get("t"), "n": i + 1} for i, p in enumerate(points)],
        "left": left,
        "right": width - right,
        "top": top_pad,
        "bottom": top_pad + plot_h,
        "max": top,
        "width": width,
        "height": height,
    }
