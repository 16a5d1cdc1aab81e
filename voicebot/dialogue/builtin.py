"""The built-in engine: the Rasa project's own files, run in-process without TensorFlow.

It reads `rasa_project/domain.yml` (intents, slots and their initial values, actions,
responses), `data/rules.yml` (which action answers which intent) and `data/nlu.yml` (the
training examples), trains an intent classifier at start-up (character n-gram TF-IDF and a
ridge classifier, numpy only, well under a second), and runs the same actions
(`flow.py`) the Rasa action server runs. So `rasa train` and the built-in engine learn from one
set of files, and the conversation tests hold for both.
"""

from __future__ import annotations

import itertools
import logging
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from voicebot.dialogue.flow import INITIAL_STATE, Flow, Message, State, Turn, context_metadata
from voicebot.dialogue.flow import to_actions as flow_actions
from voicebot.dialogue.policy import (
    Action,
    InterviewContext,
    KeyPress,
    PolicyEvent,
    Silence,
    Utterance,
)
from voicebot.dialogue.prompts import Prompts

log = logging.getLogger(__name__)

RASA_PROJECT = Path(__file__).resolve().parents[2] / "rasa_project"
EVENT_INTENTS = ("start_interview", "silence", "keypress", "unclear")
_ENTITY = re.compile(r"\[([^\]]+)\]\((?:[^)]+)\)|\[([^\]]+)\]\{[^}]*\}")


class ProjectError(ValueError):
    """A Rasa project file the built-in engine cannot use; the message names file and place."""


# --- the project files ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RasaProject:
    intents: tuple[str, ...]
    slots: dict[str, Any]  # name -> initial value
    actions: tuple[str, ...]
    responses: dict[str, list[str]]  # utter_* -> texts
    rules: dict[str, tuple[str, ...]]  # intent -> actions run in order
    examples: dict[str, list[str]]  # intent -> training examples (entity markup removed)
    fallback_threshold: float = 0.35

    @classmethod
    def load(cls, root: str | Path = RASA_PROJECT) -> RasaProject:
        root = Path(root)
        domain = _yaml(root / "domain.yml")
        intents = tuple(_names(domain.get("intents") or [], root / "domain.yml", "intents"))
        slots = {
            name: (spec or {}).get("initial_value")
            for name, spec in (domain.get("slots") or {}).items()
        }
        actions = tuple(domain.get("actions") or ())
        responses = {
            name: [str(r.get("text", "")) for r in items if isinstance(r, Mapping)]
            for name, items in (domain.get("responses") or {}).items()
        }
        rules = _rules(_yaml(root / "data" / "rules.yml"), root / "data" / "rules.yml")
        examples = _examples(_yaml(root / "data" / "nlu.yml"), root / "data" / "nlu.yml")
        config = _yaml(root / "config.yml")
        threshold = next(
            (
                float(c.get("threshold", 0.35))
                for c in config.get("pipeline") or []
                if isinstance(c, Mapping) and c.get("name") == "FallbackClassifier"
            ),
            0.35,
        )
        for intent, steps in rules.items():
            unknown = [a for a in steps if a not in actions and a not in responses]
            if intent not in intents and intent != "nlu_fallback":
                raise ProjectError(f"{root}/data/rules.yml: intent {intent!r} not in domain.yml")
            if unknown:
                raise ProjectError(
                    f"{root}/data/rules.yml: action {unknown[0]!r} not in domain.yml"
                )
        missing = [i for i in examples if i not in intents]
        if missing:
            raise ProjectError(f"{root}/data/nlu.yml: intent {missing[0]!r} not in domain.yml")
        return cls(intents, slots, actions, responses, rules, examples, threshold)


def _yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProjectError(f"{path}: file does not exist") from None
    except yaml.YAMLError as e:
        raise ProjectError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(data, Mapping):
        raise ProjectError(f"{path}: expected a mapping at the top level")
    return dict(data)


def _names(items: Iterable[Any], path: Path, key: str) -> list[str]:
    names = []
    for item in items:
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, Mapping) and len(item) == 1:
            names.append(str(next(iter(item))))
        else:
            raise ProjectError(f"{path}: {key}: unexpected entry {item!r}")
    return names


def _rules(data: Mapping[str, Any], path: Path) -> dict[str, tuple[str, ...]]:
    """Rules of the form `intent → action, action...`; anything else is named as unsupported."""
    rules: dict[str, tuple[str, ...]] = {}
    for i, rule in enumerate(data.get("rules") or []):
        where = f"{path}: rules[{i}] ({rule.get('rule', '?')!r})"
        steps = rule.get("steps") or []
        if rule.get("condition") or not steps or "intent" not in steps[0]:
            raise ProjectError(f"{where}: the built-in engine runs rules 'intent → actions' only")
        actions = []
        for step in steps[1:]:
            if "action" not in step:
                raise ProjectError(f"{where}: unsupported step {step!r}")
            actions.append(str(step["action"]))
        intent = str(steps[0]["intent"])
        if intent in rules:
            raise ProjectError(f"{where}: a second rule for intent {intent!r}")
        rules[intent] = tuple(actions)
    return rules


def _examples(data: Mapping[str, Any], path: Path) -> dict[str, list[str]]:
    examples: dict[str, list[str]] = {}
    for block in data.get("nlu") or []:
        if "intent" not in block:
            continue  # synonyms, lookups, regexes: Rasa's, not needed here
        lines = str(block.get("examples") or "").splitlines()
        texts = [_ENTITY.sub(lambda m: m.group(1) or m.group(2), ln.strip()[2:]) for ln in lines]
        texts = [t.strip() for t in texts if t.strip()]
        if not texts:
            raise ProjectError(f"{path}: intent {block['intent']!r} has no examples")
        examples.setdefault(str(block["intent"]), []).extend(texts)
    return examples


def nlu_split(
    examples: Mapping[str, list[str]], every: int = 5
) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """A deterministic held-out split: every `every`-th example of each intent is held out."""
    train: dict[str, list[str]] = {}
    test: list[tuple[str, str]] = []
    for intent, texts in examples.items():
        for i, text in enumerate(texts):
            if i % every == every - 1:
                test.append((text, intent))
            else:
                train.setdefault(intent, []).append(text)
    return train, test


# --- intent classification --------------------------------------------------------------------


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'")
    return " ".join(re.sub(r"[^\w\s']", " ", text).split())


def _ngrams(text: str, lo: int = 1, hi: int = 3) -> Counter[str]:
    """Character n-grams inside word boundaries (like Rasa's char_wb analyser; a Chinese
    sentence is one "word", so its n-grams span it), words and word pairs ("don't agree")."""
    grams: Counter[str] = Counter()
    words = _normalise(text).split()
    for word in words:
        grams[f"w:{word}"] += 1
        padded = f" {word} "
        for n in range(lo, hi + 1):
            for i in range(len(padded) - n + 1):
                grams[padded[i : i + n]] += 1
    for first, second in itertools.pairwise(words):
        grams[f"b:{first}_{second}"] += 1
    return grams


@dataclass(frozen=True, slots=True)
class Prediction:
    intent: str
    confidence: float
    ranking: list[tuple[str, float]] = field(default_factory=list)


class IntentClassifier:
    """TF-IDF over character n-grams and words, and a one-vs-rest ridge classifier solved in
    its dual form (an N×N system for N examples: milliseconds, no iterations, no TensorFlow).
    Confidence is a softmax over the ridge scores, comparable to the FallbackClassifier
    threshold in config.yml."""

    RIDGE = 0.5
    TEMPERATURE = 4.0

    def __init__(self, examples: Mapping[str, list[str]]) -> None:
        texts = [(t, intent) for intent, items in examples.items() for t in items]
        if not texts:
            raise ProjectError("no NLU examples to train on")
        counts = [_ngrams(t) for t, _ in texts]
        vocab: dict[str, int] = {}
        for c in counts:
            for g in c:
                vocab.setdefault(g, len(vocab))
        df = np.zeros(len(vocab))
        for c in counts:
            df[[vocab[g] for g in c]] += 1
        self._vocab = vocab
        self._idf = np.log((1 + len(counts)) / (1 + df)) + 1
        self.intents = sorted(examples)
        labels = np.array([self.intents.index(i) for _, i in texts])
        self._examples = np.vstack([self._vector(c) for c in counts])
        targets = -np.ones((len(texts), len(self.intents)))
        targets[np.arange(len(texts)), labels] = 1.0
        gram = self._examples @ self._examples.T
        dual = np.linalg.solve(gram + self.RIDGE * np.eye(len(texts)), targets)
        self._weights = self._examples.T @ dual  # vocabulary × intents

    def _vector(self, grams: Counter[str]) -> np.ndarray:
        v = np.zeros(len(self._vocab))
        for g, n in grams.items():
            j = self._vocab.get(g)
            if j is not None:
                v[j] = 1 + np.log(n)
        v *= self._idf
        norm = np.linalg.norm(v)
        return v / norm if norm else v

    def predict(self, text: str) -> Prediction:
        v = self._vector(_ngrams(text))
        if not v.any():
            return Prediction("nlu_fallback", 0.0, [])
        scores = v @ self._weights
        probs = np.exp(self.TEMPERATURE * (scores - scores.max()))
        probs /= probs.sum()
        order = np.argsort(-probs)
        ranking = [(self.intents[k], float(probs[k])) for k in order]
        return Prediction(ranking[0][0], ranking[0][1], ranking)


# --- the engine and its per-call policy ------------------------------------------------------


class BuiltinEngine:
    """What every call shares: the project, the trained classifier and the flow."""

    def __init__(
        self,
        project: RasaProject | None = None,
        prompts: Prompts | None = None,
        *,
        examples: Mapping[str, list[str]] | None = None,
    ) -> None:
        self.project = project if project is not None else RasaProject.load()
        self.flow = Flow(prompts)
        spoken = {
            i: texts
            for i, texts in (examples or self.project.examples).items()
            if i not in EVENT_INTENTS
        }
        self.classifier = IntentClassifier(spoken)
        missing = [a for a in self.project.actions if a not in self.flow.actions]
        if missing:
            raise ProjectError(f"domain.yml: action {missing[0]!r} has no implementation")

    def classify(self, text: str) -> Prediction:
        """The intent, or nlu_fallback below the config's FallbackClassifier threshold."""
        p = self.classifier.predict(text)
        if p.confidence < self.project.fallback_threshold:
            return Prediction("nlu_fallback", p.confidence, p.ranking)
        return p

    def policy(self, clock: Callable[[], datetime] | None = None) -> BuiltinPolicy:
        return BuiltinPolicy(self, clock=clock)


_DEFAULT_ENGINE: BuiltinEngine | None = None


def default_engine() -> BuiltinEngine:
    """The process-wide engine, trained on first use."""
    global _DEFAULT_ENGINE
    if _DEFAULT_ENGINE is None:
        _DEFAULT_ENGINE = BuiltinEngine()
    return _DEFAULT_ENGINE


class BuiltinPolicy:
    """`DialoguePolicy` for one call, run in-process; also takes over a call from Rasa."""

    def __init__(
        self,
        engine: BuiltinEngine | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.engine = engine if engine is not None else default_engine()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.state: State = {**INITIAL_STATE, **_initial_slots(self.engine.project)}
        self.meta: dict[str, Any] | None = None
        self.last_intent: str | None = None

    @property
    def finished(self) -> bool:
        return self.state.get("stage") == "done"

    def resume(self, ctx: InterviewContext, state: Mapping[str, Any], meta: Mapping | None = None):
        """Carry on a call another engine started, from its state (the slots)."""
        self.meta = dict(meta) if meta is not None else context_metadata(ctx)
        self.state = {**INITIAL_STATE, **state}

    async def start(self, ctx: InterviewContext) -> list[Action]:
        self.meta = context_metadata(ctx)
        return self._run_intent("start_interview", Turn("start_interview", now=self.clock()))

    async def on_utterance(self, utterance: Utterance) -> list[Action]:
        return self.utterance(utterance)

    def utterance(self, utterance: Utterance) -> list[Action]:
        """Synchronous core of `on_utterance` (the Rasa client's fallback calls it too)."""
        self._require_start()
        if self.finished:
            return []
        text = utterance.text.strip()
        intent = self.engine.classify(text).intent if _has_words(text) else "unclear"
        turn = Turn(intent, text, now=self.clock())
        return self._run_intent(intent, turn, utterance.confidence)

    async def on_event(self, event: PolicyEvent) -> list[Action]:
        return self.event(event)

    def event(self, event: PolicyEvent) -> list[Action]:
        self._require_start()
        if self.finished:
            return []
        match event:
            case Silence(count=count):
                return self._run_intent("silence", Turn("silence", event={"count": count}))
            case KeyPress(digit=digit):
                return self._run_intent("keypress", Turn("keypress", event={"digit": digit}))
        return []

    async def close(self) -> None:
        return None

    def _run_intent(self, intent: str, turn: Turn, confidence: float | None = None) -> list[Action]:
        self.last_intent = intent
        messages: list[Message] = []
        for action in self.engine.project.rules.get(intent, ()):
            if action in self.engine.project.responses:
                texts = self.engine.project.responses[action]
                messages.append({"text": texts[0].format(**self.state)})
                continue
            assert self.meta is not None
            self.state, out = self.engine.flow.run(action, self.state, self.meta, turn)
            messages.extend(out)
        return flow_actions(messages, confidence)

    def _require_start(self) -> None:
        if self.meta is None:
            raise RuntimeError("BuiltinPolicy.start() must be called first")


def _initial_slots(project: RasaProject) -> dict[str, Any]:
    return {k: v for k, v in project.slots.items() if k in INITIAL_STATE and v is not None}


def _has_words(text: str) -> bool:
    return bool(re.search(r"\w", text))
