"""Outcome analytics: does the interview predict hiring and performance, and does it select
self-reported groups at different rates?

`validity` correlates each competency's scores with hiring outcomes and later performance and
suggests weights; `adverse_impact` gives selection rates and impact ratios per group (the
four-fifths rule) and NYC Local Law 144's scoring-rate ratios. Groups too small to judge are
marked, never silently dropped.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from voicebot.store import Store
from voicebot.store import hr as db

SELECTED = ("strong_yes", "yes")
MIN_PAIRS = 10  # correlations on fewer pairs are reported but not acted on
MIN_GROUP = 5  # groups smaller than this (or under 2 % of the sample) are too small to judge
MIN_GROUP_SHARE = 0.02


@dataclass(frozen=True, slots=True)
class Interviewed:
    """One candidate's interview result joined with what happened later."""

    candidate_id: str
    overall: float | None
    recommendation: str | None
    competencies: Mapping[str, float]
    hired: bool | None = None
    performance: float | None = None
    groups: Mapping[str, str] | None = None


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    if len(xs) < 3:
        return None
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def validity(
    rows: Sequence[Interviewed], weights: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """Per competency: r with hired (point-biserial) and with performance, and a suggested
    weight (proportional to the positive predictive correlation) when there is enough data."""
    names = sorted({c for r in rows for c in r.competencies})
    weights = dict(weights or {})
    out: list[dict[str, Any]] = []
    for name in names:
        hired = [(r.competencies[name], float(r.hired)) for r in rows
                 if name in r.competencies and r.hired is not None]  # fmt: skip
        perf = [(r.competencies[name], r.performance) for r in rows
                if name in r.competencies and r.performance is not None]  # fmt: skip
        r_h = pearson(*zip(*hired, strict=True)) if hired else None
        r_p = pearson(*zip(*perf, strict=True)) if perf else None  # type: ignore[arg-type]
        out.append(
            {"competency": name, "n_hired": len(hired), "r_hired": _round(r_h),
             "n_performance": len(perf), "r_performance": _round(r_p),
             "weight": weights.get(name, 1.0)}
        )  # fmt: skip
    _suggest_weights(out)
    return {"candidates": len(rows), "competencies": out, "min_pairs": MIN_PAIRS}


def _suggest_weights(items: list[dict[str, Any]]) -> None:
    """Weight ∝ the predictive r (performance first, else hiring), same total as now."""
    signal: dict[str, float] = {}
    for it in items:
        if it["r_performance"] is not None and it["n_performance"] >= MIN_PAIRS:
            signal[it["competency"]] = max(it["r_performance"], 0.0)
        elif it["r_hired"] is not None and it["n_hired"] >= MIN_PAIRS:
            signal[it["competency"]] = max(it["r_hired"], 0.0)
    total_now = sum(it["weight"] for it in items if it["competency"] in signal)
    total_signal = sum(signal.values())
    for it in items:
        if it["competency"] not in signal or total_signal == 0:
            it["suggested_weight"] = None
            it["note"] = "not enough outcome data to suggest a change"
            continue
        new = round(total_now * signal[it["competency"]] / total_signal, 3)
        it["suggested_weight"] = new
        change = new - it["weight"]
        it["note"] = "keep" if abs(change) < 0.05 else ("raise" if change > 0 else "lower")


def adverse_impact(rows: Sequence[Interviewed], category: str | None = None) -> dict[str, Any]:
    """Selection rates (recommendation yes/strong yes) and scoring rates (overall above the
    sample median, LL144) per self-reported group, with impact ratios against the highest."""
    scored = [r.overall for r in rows if r.overall is not None]
    median = statistics.median(scored) if scored else None
    categories = sorted({c for r in rows for c in (r.groups or {})})
    if category is not None:
        categories = [c for c in categories if c == category]
    result: dict[str, Any] = {"candidates": len(rows), "median_score": median, "categories": {}}
    for cat in categories:
        groups: dict[str, list[Interviewed]] = {}
        for r in rows:
            groups.setdefault((r.groups or {}).get(cat, "unknown"), []).append(r)
        result["categories"][cat] = _group_table(groups, len(rows), median)
    return result


def _group_table(
    groups: Mapping[str, list[Interviewed]], total: int, median: float | None
) -> list[dict[str, Any]]:
    table = []
    for name, members in sorted(groups.items()):
        n = len(members)
        selected = sum(r.recommendation in SELECTED for r in members)
        above = sum(r.overall is not None and median is not None and r.overall > median
                    for r in members)  # fmt: skip
        small = n < MIN_GROUP or n < MIN_GROUP_SHARE * total
        table.append(
            {"group": name, "n": n, "selected": selected, "selection_rate": _round(selected / n),
             "scoring_rate": _round(above / n), "too_small": small,
             "judged": not small and name != "unknown"}
        )  # fmt: skip
    for rate, ratio in (
        ("selection_rate", "impact_ratio"),
        ("scoring_rate", "scoring_impact_ratio"),
    ):
        best = max((g[rate] for g in table if g["judged"]), default=0) or None
        for g in table:
            g[ratio] = _round(g[rate] / best) if best and g["judged"] else None
    for g in table:
        g["four_fifths_flag"] = g["impact_ratio"] is not None and g["impact_ratio"] < 0.8
    return table


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


async def load_interviewed(store: Store, job_id: str) -> list[Interviewed]:
    """Every candidate of the job with a scored interview, joined with outcomes and groups."""
    from voicebot.store.reports import get_report

    calls = await db.interviews_for_job(store, job_id)
    outs = await db.outcomes(store, job_id)
    demo = await db.demographics(store, job_id)
    rows = []
    for cand, call_id in calls.items():
        report = await get_report(store, call_id)
        if report is None:
            continue
        overall = report.get("overall", {})
        o = outs.get(cand, {})
        rows.append(
            Interviewed(
                candidate_id=cand,
                overall=overall.get("score"),
                recommendation=overall.get("recommendation"),
                competencies={
                    c["id"]: float(c["score"])
                    for c in report.get("competencies", [])
                    if c.get("score") is not None
                },
                hired=None if o.get("hired") is None else bool(o["hired"]),
                performance=o.get("performance"),
                groups=demo.get(cand, {}),
            )
        )
    return rows
