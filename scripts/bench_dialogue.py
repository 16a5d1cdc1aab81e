#!/usr/bin/env python
"""Benchmark both dialogue engines and print JSON (also written to var/bench/dialogue.json).

Per engine:
- `intent_accuracy`: on a held-out split of rasa_project/data/nlu.yml (every 5th example of
  each intent; deterministic). Each engine is trained on the other four fifths only: the
  built-in engine in-process, Rasa as a separate model in a temporary directory. The top
  intent counts (Rasa's nlu_fallback is skipped for the intent ranked under it).
- `latency_ms` p50/p95: one dialogue turn (utterance or event in, actions out), measured by
  playing the conversation stories of rasa_project/tests/test_stories.yml `--rounds` times;
  for Rasa that is the HTTP round trip through the Rasa server and the action server.

- `zh`: Mandarin, on the labelled data of tests/data/dialogue-zh/ (written before the
  fixes it judges), each engine trained on the whole of nlu.yml (Rasa: the model
  scripts/setup_rasa.sh trains): `intent_accuracy` on the held-out utterances (and on the tune
  part), `consent_accuracy` on the held-out replies to the consent question (what the bot did:
  consent given, asked again, refused, AI disclosed, call-back, opt-out, transfer; also on the
  replies the NLU never saw), `false_consent` (a reply that must not consent but did) and
  `values_accuracy` (salaries, notice periods, years; the parser both engines share).

`--engine builtin` needs no Rasa venv.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.dialogue.conftest import free_port  # noqa: E402
from tests.dialogue.test_conversations import NOW, STORIES, context  # noqa: E402
from voicebot.dialogue.builtin import RASA_PROJECT, BuiltinEngine, RasaProject, nlu_split  # noqa: E402
from voicebot.dialogue.policy import DialoguePolicy, Silence, Utterance  # noqa: E402
from voicebot.dialogue.rasa import RasaEngine, RasaServer  # noqa: E402

ZH_DATA = ROOT / "tests" / "data" / "dialogue-zh"


def zh_items(name: str) -> list[dict[str, Any]]:
    return yaml.safe_load((ZH_DATA / f"{name}.yaml").read_text(encoding="utf-8"))["items"]


async def zh_scores(
    classify: Callable[[str], Any], make_policy: Callable[[], DialoguePolicy], trained: set[str]
) -> dict[str, Any]:
    """The Mandarin numbers of one engine: `classify` (text → intent, may be async)."""
    from tests.dialogue.test_values_zh import VALUES, money_view
    from tests.dialogue.test_zh_dialogue import consent_outcome, reply_to_consent
    from voicebot.values import parse_duration, parse_money, parse_years

    out: dict[str, Any] = {}
    intents = zh_items("intents")
    for split in ("held_out", "tune"):
        items = [i for i in intents if i["split"] == split]
        wrong = []
        for item in items:
            got = classify(item["text"])
            got = await got if asyncio.iscoroutine(got) else got
            if got != item["intent"]:
                wrong.append({"text": item["text"], "expected": item["intent"], "got": got})
        key = "intent_accuracy" if split == "held_out" else "intent_accuracy_tune"
        out[key] = round(1 - len(wrong) / len(items), 4)
        if split == "held_out":
            out["intent_held_out"], out["intent_misses"] = len(items), wrong
    replies = [i for i in zh_items("consent") if i["split"] == "held_out"]
    results = []
    for item in replies:
        got = consent_outcome(await reply_to_consent(make_policy(), item["text"]))
        results.append((item, got))
    unseen = [(i, g) for i, g in results if i["text"] not in trained]
    out["consent_accuracy"] = round(sum(i["expect"] == g for i, g in results) / len(results), 4)
    out["consent_accuracy_unseen"] = round(
        sum(i["expect"] == g for i, g in unseen) / len(unseen), 4
    )
    out["consent_held_out"], out["consent_unseen"] = len(results), len(unseen)
    out["false_consent"] = sum(g == "given" and i["expect"] != "given" for i, g in results)
    out["consent_misses"] = [
        {"text": i["text"], "expected": i["expect"], "got": g}
        for i, g in results
        if i["expect"] != g
    ]
    values = [i for i in VALUES if i["split"] == "held_out"]
    right = 0
    for item in values:
        text = item["text"]
        if item["kind"] == "salary":
            got = money_view(parse_money(text, locale=item.get("locale", "zh")))
            right += bool(got) and {k: got[k] for k in item["money"]} == item["money"]
        elif item["kind"] == "notice":
            d = parse_duration(text)
            right += (d.iso if d else None) == item["duration"]
        else:
            right += parse_years(text) == item["years"]
    out["values_accuracy"], out["values_held_out"] = round(right / len(values), 4), len(values)
    return out


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 2), "p95": round(p95, 2)}


async def turn_latencies(make_policy: Callable[[], DialoguePolicy], rounds: int) -> list[float]:
    """Milliseconds per turn over every story, `rounds` times."""
    samples: list[float] = []
    for _ in range(rounds):
        for story in STORIES["stories"]:
            policy = make_policy()
            silences = 0
            for step in story["steps"]:
                text = str(step.get("user", "")).strip()
                if not text:
                    continue
                t0 = time.perf_counter()
                if text == "/start_interview":
                    await policy.start(context(story["metadata"]["job"]))
                elif text == "/silence":
                    silences += 1
                    await policy.on_event(Silence(silences))
                else:
                    await policy.on_utterance(Utterance(text, 0.9))
                samples.append((time.perf_counter() - t0) * 1000)
    return samples


async def bench_builtin(rounds: int) -> dict[str, Any]:
    project = RasaProject.load()
    train, test = nlu_split(project.examples)
    t0 = time.perf_counter()
    engine = BuiltinEngine(project, examples=train)
    train_s = time.perf_counter() - t0
    right = sum(engine.classifier.predict(text).intent == intent for text, intent in test)
    full = BuiltinEngine(project)
    samples = await turn_latencies(lambda: full.policy(clock=lambda: NOW), rounds)
    trained = {t for texts in project.examples.values() for t in texts}
    zh = await zh_scores(
        lambda text: full.classifier.predict(text).intent,
        lambda: full.policy(clock=lambda: NOW),
        trained,
    )
    return {
        "intent_accuracy": round(right / len(test), 4),
        "held_out": len(test),
        "trained_on": sum(len(v) for v in train.values()),
        "train_s": round(train_s, 3),
        "latency_ms": percentiles(samples),
        "turns": len(samples),
        "zh": zh,
    }


def write_split_project(dest: Path, train: dict[str, list[str]]) -> None:
    """A copy of the Rasa project whose NLU data is the training split only."""
    shutil.copytree(RASA_PROJECT, dest, ignore=shutil.ignore_patterns("models", ".rasa"))
    nlu = {
        "version": "3.1",
        "nlu": [
            {"intent": intent, "examples": "".join(f"- {t}\n" for t in texts)}
            for intent, texts in train.items()
        ],
    }
    (dest / "data" / "nlu.yml").write_text(
        yaml.safe_dump(nlu, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )


async def rasa_zh(venv: Path) -> dict[str, Any]:
    """The Mandarin numbers of the Rasa model scripts/setup_rasa.sh trains on all of nlu.yml."""
    project = RasaProject.load()
    trained = {t for texts in project.examples.values() for t in texts}
    server = RasaServer(venv=venv, port=free_port(), action_port=free_port(), start_timeout_s=300)
    async with server, aiohttp.ClientSession() as session:

        async def classify(text: str) -> str | None:
            async with session.post(f"{server.url}/model/parse", json={"text": text}) as r:
                parsed = await r.json()
            ranking = [i["name"] for i in parsed.get("intent_ranking", [])]
            return next((name for name in ranking if name != "nlu_fallback"), None)

        async with RasaEngine(server.url, turn_timeout_s=10) as engine:
            return await zh_scores(classify, lambda: engine.policy(clock=lambda: NOW), trained)


async def bench_rasa(rounds: int, venv: Path) -> dict[str, Any]:
    project = RasaProject.load()
    train, test = nlu_split(project.examples)
    with tempfile.TemporaryDirectory(prefix="voicebot-bench-rasa-") as tmp:
        split = Path(tmp) / "project"
        write_split_project(split, train)
        t0 = time.perf_counter()
        await asyncio.to_thread(
            subprocess.run,
            [str(venv / "bin" / "rasa"), "train", "--out", "models", "--fixed-model-name",
             "bench", "--quiet"],
            cwd=split, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        train_s = time.perf_counter() - t0
        server = RasaServer(
            venv=venv,
            project=split,
            model=split / "models" / "bench.tar.gz",
            port=free_port(),
            action_port=free_port(),
            start_timeout_s=300,
        )
        async with server, aiohttp.ClientSession() as session:
            right = 0
            for text, intent in test:
                async with session.post(f"{server.url}/model/parse", json={"text": text}) as r:
                    parsed = await r.json()
                ranking = [i["name"] for i in parsed.get("intent_ranking", [])]
                top = next((name for name in ranking if name != "nlu_fallback"), None)
                right += top == intent
            async with RasaEngine(server.url, turn_timeout_s=10) as engine:
                samples = await turn_latencies(lambda: engine.policy(clock=lambda: NOW), rounds)
    return {
        "intent_accuracy": round(right / len(test), 4),
        "held_out": len(test),
        "trained_on": sum(len(v) for v in train.values()),
        "train_s": round(train_s, 1),
        "latency_ms": percentiles(samples),
        "turns": len(samples),
        "zh": await rasa_zh(venv),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=["builtin", "rasa", "both"], default="both")
    parser.add_argument("--rounds", type=int, default=5, help="times each story is played")
    parser.add_argument("--rasa-venv", type=Path, default=ROOT / ".venv-rasa")
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "dialogue.json")
    args = parser.parse_args()
    result: dict[str, Any] = {}
    if args.engine in ("builtin", "both"):
        result["builtin"] = await bench_builtin(args.rounds)
    if args.engine in ("rasa", "both"):
        result["rasa"] = await bench_rasa(args.rounds, args.rasa_venv)
    text = json.dumps(result, indent=2, ensure_ascii=False)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    asyncio.run(main())
