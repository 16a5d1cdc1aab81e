"""Word error rate with the normalisation phone transcripts need ("6" = "six", "90,000" =
"ninety thousand"), shared by the demo, the benchmarks and the tests."""

from __future__ import annotations

import re

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


def number_words(n: int) -> str:
    """English words for 0 <= n < 10**9 ("ninety thousand", "two hundred five")."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for size, name in ((10**6, "million"), (1000, "thousand"), (100, "hundred")):
        if n >= size:
            head, rest = divmod(n, size)
            return f"{number_words(head)} {name}" + (f" {number_words(rest)}" if rest else "")
    raise ValueError(n)


_CONTRACTIONS = (
    (r"\bcan't\b", "can not"),
    (r"\bwon't\b", "will not"),
    (r"n't\b", " not"),
    (r"'re\b", " are"),
    (r"'ve\b", " have"),
    (r"'ll\b", " will"),
    (r"'m\b", " am"),
    (r"'d\b", " would"),
    (r"\b(it|that|there|what|he|she|here)'s\b", r"\1 is"),
)


def normalize_words(text: str) -> list[str]:
    text = text.lower().replace("’", "'").replace("-", " ").replace("%", " percent")
    for pattern, repl in _CONTRACTIONS:
        text = re.sub(pattern, repl, text)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,250,000: every group
    text = re.sub(r"(\d+)k\b", lambda m: f"{m.group(1)} thousand", text)
    words = re.sub(r"[^a-z0-9' ]", " ", text).split()
    out: list[str] = []
    for w in words:
        if w.isdigit() and len(w) < 10:
            out += number_words(int(w)).split()
        else:
            out.append(w)
    return out


def word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    """Levenshtein distance between two token lists."""
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Mandarin CER: edits per reference character, where an English word or a number also
    counts as one unit and Traditional/Simplified and 15000/一万五千 are the same."""
    from voicebot.speech.zh_text import cer_tokens

    ref = cer_tokens(reference)
    return edit_distance(ref, cer_tokens(hypothesis)) / max(1, len(ref))


def phone_line(pcm: bytes, *, snr_db: float | None = None, seed: int = 0) -> bytes:
    """8 kHz PCM16 as the far end hears it: white noise at `snr_db` (if given), then a G.711
    μ-law round trip."""
    import numpy as np

    from voicebot.media.g711 import ulaw_decode, ulaw_encode

    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if snr_db is not None and len(x):
        power = float(np.mean(x**2)) or 1.0
        noise = np.random.default_rng(seed).normal(0, (power / 10 ** (snr_db / 10)) ** 0.5, len(x))
        x = np.clip(x + noise, -32768, 32767)
    return ulaw_decode(ulaw_encode(x.astype(np.int16))).astype("<i2").tobytes()
