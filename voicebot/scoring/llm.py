"""An optional LLM rater: any OpenAI-compatible chat endpoint (llama.cpp's server, vLLM, Ollama)
fills in the rubric's checklist for one answer.

The built-in scorer (rubric.rate) stays the default and the fallback: `LlmRater.rate` returns
None whenever the endpoint is slow, down or keeps answering something that is not a valid
checklist, and the caller then rates the answer itself. One warning is logged per failure; the
answer's text never is.

The model gets the competency's rubric (the BARS rules below, the level-5 features, the anchors)
and the answer, and must reply with one JSON object (`schema()`). Where the server supports
`response_format: json_schema` the reply is constrained to the schema (llama-cpp-python's
server: `json_object` with a schema); otherwise the prompt asks for it. Every reply is checked
here anyway: the level is 1-5, the level-5 feature ids are the competency's, and each feature's
quote is words of the answer. A reply that fails is retried. Own actions, counter-evidence and
weak behaviour are kept only where they quote the answer too, and the level is capped by the
rules the checklist proves (no situation or no own action: at most 2; level 4 needs two
features shown, 5 all of them), so a model cannot rate a story it did not find.

Valid checklists are cached by sha256 of (model, rubric, answer): in a SQLite file when
`cache_path` is given, else in memory. Synchronous (urllib): scoring runs in a worker thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from voicebot.interview.plan import Competency, Feature

log = logging.getLogger(__name__)

PROMPT_VERSION = "1"

RULES = """You rate one answer from a phone screening interview against a behaviourally anchored \
rating scale (BARS) for one competency. Levels 1-5. Rules:
1. Rate the evidence in the answer, not its delivery: ignore fluency, grammar, accent, fillers \
and length.
2. A level of 3 or more needs one specific past situation (one time, one place, one problem) \
with the candidate's own actions in it ("I checked", "I wrote"). "I always ...", "I would ...", \
"usually", a hypothetical, or "we" with no visible "I" is capped at 2 when it describes a \
concrete approach and at 1 when it is only claims, adjectives or buzzwords.
3. Rate only the competency asked about. A story about something else is 1, however good.
4. Counter-evidence (the candidate avoided, blamed others, gave up, or has never done it) with \
no insight or lesson learned = 1. Weak behaviour (passive, waited to be told, half-done) = 2.
5. Level 3 = a specific situation with own actions. Level 4 = level 3 plus at least two of the \
level-5 features. Level 5 = level 3 plus all of the level-5 features.
6. Numbers, tools and key phrases count only inside the candidate's own actions; a list of \
keywords or a number on its own is no evidence.
Quote the answer exactly: every quote must be words copied from the answer, in its language."""

SCHEMA_NAME = "bars_checklist"


def schema(feature_ids: list[str], choices: list[str] | None = None) -> dict[str, Any]:
    """The reply's JSON schema; level-5 feature ids are limited to the competency's and, given
    `choices` (the answer's clauses), every quote to one of them: a server that constrains its
    output to the schema then cannot quote words the candidate did not say."""
    quote: dict[str, Any] = {"type": "string"}
    if choices:
        quote = {"type": "string", "enum": choices}
    # bounded: a small model otherwise repeats a quote until max_tokens
    quotes = {"type": "array", "items": quote, "maxItems": 6}
    feature_id: dict[str, Any] = {"type": "string"}
    if feature_ids:
        feature_id = {"type": "string", "enum": feature_ids}
    return {
        "type": "object",
        "properties": {
            "specific_situation": {"type": "boolean"},
            "own_actions": quotes,
            "about_competency": {"type": "boolean"},
            "level5_features": {
                "type": "array",
                "maxItems": max(1, len(feature_ids)),
                "items": {
                    "type": "object",
                    "properties": {"id": feature_id, "quote": quote},
                    "required": ["id", "quote"],
                    "additionalProperties": False,
                },
            },
            "counter_evidence": quotes,
            "weak_behaviour": quotes,
            "level": {"type": "integer", "enum": [1, 2, 3, 4, 5]},
            "explanation": {"type": "string", "maxLength": 240},
        },
        "required": [
            "specific_situation",
            "own_actions",
            "about_competency",
            "level5_features",
            "counter_evidence",
            "weak_behaviour",
            "level",
            "explanation",
        ],
        "additionalProperties": False,
    }


class InvalidReply(ValueError):
    """The model's reply is not a valid checklist for this answer (the reason, no answer text)."""


def rubric_text(competency: Competency, features: tuple[Feature, ...]) -> str:
    lines = [f"Competency: {competency.name}"]
    if competency.description:
        lines.append(f"What it means: {competency.description}")
    if features:
        lines.append("Level-5 features (id: what the answer shows):")
        lines += [f"- {f.id}: {f.text}" for f in features]
    if competency.anchors:
        lines.append("Example answers at some levels:")
        lines += [f"- level {lv}: {competency.anchors[lv]}" for lv in sorted(competency.anchors)]
    return "\n".join(lines)


def _reply_format(feature_ids: list[str]) -> str:
    ids = ", ".join(f'"{i}"' for i in feature_ids) or "none"
    return (
        "Reply with one JSON object and nothing else, with these keys:\n"
        '"specific_situation": true if the answer tells one specific past situation;\n'
        '"own_actions": quotes of what the candidate did themselves;\n'
        '"about_competency": true if the answer is about the competency asked;\n'
        '"level5_features": for each level-5 feature the answer shows, {"id": one of '
        f'{ids}, "quote": the words of the answer that show it}};\n'
        '"counter_evidence": quotes; "weak_behaviour": quotes;\n'
        '"level": an integer 1-5 by the rules; "explanation": one sentence why.'
    )


_CLAUSE_END = re.compile(r"(?<=[.!?;:,])\s+|(?<=[。！？；：，、])")


def clauses(answer: str, limit: int = 60) -> list[str]:
    """The answer cut at punctuation: what a quote may be, for a schema-constrained server."""
    parts = [p.strip() for p in _CLAUSE_END.split(re.sub(r"\s+", " ", answer.strip()))]
    return list(dict.fromkeys(p for p in parts if len(_norm(p)) > 1))[:limit]


def _norm(s: str) -> str:
    s = s.casefold().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    s = re.sub(r"\s+", " ", s)
    return s.strip(" \t\"'.,;:!?…。，；：！？、")


def quoted(quote: str, answer: str) -> bool:
    """The quote is words of the answer (case, spacing, end punctuation aside)."""
    q = _norm(quote)
    return bool(q) and q in _norm(answer)


def check_reply(reply: Any, answer: str, features: tuple[Feature, ...]) -> dict[str, Any]:
    """The validated checklist, in the built-in scorer's shape plus `level`, `model_level`,
    `explanation`; raises InvalidReply."""
    if not isinstance(reply, dict):
        raise InvalidReply("not a JSON object")
    required = schema([])["required"]
    missing = [k for k in required if k not in reply]
    if missing:
        raise InvalidReply(f"missing keys {missing}")
    level = reply["level"]
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
        raise InvalidReply(f"level {level!r} is not an integer 1-5")
    for key in ("specific_situation", "about_competency"):
        if not isinstance(reply[key], bool):
            raise InvalidReply(f"{key} is not true/false")
    lists: dict[str, list[str]] = {}
    for key in ("own_actions", "counter_evidence", "weak_behaviour"):
        items = reply[key]
        if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
            raise InvalidReply(f"{key} is not a list of strings")
        # a paraphrase is dropped, not fatal: only words of the answer are evidence
        lists[key] = list(dict.fromkeys(x.strip() for x in items if quoted(x, answer)))
    if not isinstance(reply["explanation"], str):
        raise InvalidReply("explanation is not a string")
    known = {f.id for f in features}
    shown: dict[str, str] = {}
    if not isinstance(reply["level5_features"], list):
        raise InvalidReply("level5_features is not a list")
    for item in reply["level5_features"]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise InvalidReply("a level5_features item is not {id, quote}")
        fid, quote = item["id"], item.get("quote")
        if fid not in known:
            raise InvalidReply(f"unknown level-5 feature id {fid!r}")
        if not isinstance(quote, str) or not quoted(quote, answer):
            raise InvalidReply(f"the quote for feature {fid!r} is not in the answer")
        shown.setdefault(fid, quote.strip())

    capped, rule = level, "the model's level"
    situation = reply["specific_situation"] and bool(lists["own_actions"])
    if not reply["about_competency"] and capped > 1:
        capped, rule = 1, "not about the competency (rule 3)"
    elif not situation and capped > 2:
        capped, rule = 2, "no specific situation with own actions (rule 2)"
    elif capped == 5 and len(shown) < len(features):
        capped, rule = 4, "level 5 needs every level-5 feature (rule 5)"
    if capped == 4 and len(shown) < min(2, len(features)):
        capped, rule = 3, "level 4 needs two level-5 features (rule 5)"
    return {
        "level": capped,
        "model_level": level,
        "rule": rule,
        "specific_situation": reply["specific_situation"],
        "own_actions": lists["own_actions"],
        "about_competency": reply["about_competency"],
        "level5_features": [
            {"id": f.id, "text": f.text, "quote": shown.get(f.id)} for f in features
        ],
        "counter_evidence": lists["counter_evidence"],
        "weak_behaviour": lists["weak_behaviour"],
        "explanation": reply["explanation"].strip(),
    }


def _json_of(content: str) -> Any:
    """The JSON object in a reply, also inside a ```json fence or after some words."""
    text = content.strip()
    fence = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    if fence:
        text = fence.group(1).strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        start, end = text.find("{"), text.rfind("}")
        if 0 <= start < end:
            try:
                return json.loads(text[start : end + 1])
            except json.JSONDecodeError:
                pass
    raise InvalidReply("the reply is not JSON")


class _Cache:
    def __init__(self, path: str | Path | None) -> None:
        self._lock = threading.Lock()
        self._mem: dict[str, str] = {}
        self._path = Path(path) if path else None
        if self._path:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            with self._db() as db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS llm_ratings "
                    "(key TEXT PRIMARY KEY, checklist TEXT NOT NULL, created REAL NOT NULL)"
                )

    def _db(self) -> sqlite3.Connection:
        assert self._path is not None
        return sqlite3.connect(self._path, timeout=5)

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            if self._path is None:
                raw = self._mem.get(key)
            else:
                db = self._db()
                try:
                    row = db.execute(
                        "SELECT checklist FROM llm_ratings WHERE key = ?", (key,)
                    ).fetchone()
                finally:
                    db.close()
                raw = row[0] if row else None
        return json.loads(raw) if raw else None

    def put(self, key: str, checklist: dict[str, Any]) -> None:
        raw = json.dumps(checklist, ensure_ascii=False)
        with self._lock:
            if self._path is None:
                self._mem[key] = raw
                return
            db = self._db()
            try:
                with db:
                    db.execute(
                        "INSERT OR REPLACE INTO llm_ratings VALUES (?, ?, ?)",
                        (key, raw, time.time()),
                    )
            finally:
                db.close()


class LlmRater:
    """Rates answers with a chat model; `rate` returns None to mean "use the built-in scorer".

    `timeout_s` bounds one `rate` call, all tries together; `retries` is how many more tries an
    invalid or failed reply gets. `stats` counts requests, cache hits, invalid replies, failures.
    """

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 20,
        retries: int = 2,
        cache_path: str | Path | None = None,
        max_tokens: int = 700,
    ) -> None:
        base = base_url.rstrip("/")
        self.url = (base if base.endswith("/v1") else base + "/v1") + "/chat/completions"
        self.model = model
        self.api_key = api_key
        self.timeout_s = float(timeout_s)
        self.retries = max(0, int(retries))
        self.max_tokens = max_tokens
        # the structured output asked for: json_schema until the server refuses it, then
        # json_object with the schema, then plain JSON instructions
        self.reply_format = _FORMATS[0]
        self.stats = {"requests": 0, "cache_hits": 0, "invalid": 0, "failures": 0}
        self._cache = _Cache(cache_path)

    # -- the prompt -----------------------------------------------------------------------

    def messages(
        self, text: str, competency: Competency, features: tuple[Feature, ...]
    ) -> list[dict[str, str]]:
        ids = [f.id for f in features]
        user = (
            f"{rubric_text(competency, features)}\n\n"
            f"The candidate's answer:\n<<<\n{text.strip()}\n>>>\n\n{_reply_format(ids)}"
        )
        return [{"role": "system", "content": RULES}, {"role": "user", "content": user}]

    def cache_key(self, text: str, competency: Competency, features: tuple[Feature, ...]) -> str:
        blob = json.dumps(
            [PROMPT_VERSION, self.model, RULES, rubric_text(competency, features), text.strip()],
            ensure_ascii=False,
        )
        return hashlib.sha256(blob.encode()).hexdigest()

    # -- rating ---------------------------------------------------------------------------

    def rate(
        self, text: str, competency: Competency, lang: str | None = None
    ) -> dict[str, Any] | None:
        """The checklist (see check_reply) or None: timed out, unreachable or never valid."""
        features = tuple(competency.level5_features)
        key = self.cache_key(text, competency, features)
        hit = self._cache.get(key)
        if hit is not None:
            self.stats["cache_hits"] += 1
            return hit
        deadline = time.monotonic() + self.timeout_s
        messages = self.messages(text, competency, features)
        the_schema = schema([f.id for f in features], clauses(text))
        why = "no try"
        for attempt in range(1 + self.retries):
            left = deadline - time.monotonic()
            if left <= 0.05:
                why = f"timed out after {self.timeout_s:g} s"
                break
            content = ""
            try:
                content = self._complete(messages, the_schema, left, 0.3 * attempt)
                checklist = check_reply(_json_of(content), text, features)
            except InvalidReply as e:
                self.stats["invalid"] += 1
                why = f"invalid reply ({e})"
                if content and attempt == 0:  # say what was wrong, once
                    messages = [
                        *messages,
                        {"role": "assistant", "content": content[:4000]},
                        {"role": "user", "content": _fix_it(str(e))},
                    ]
                continue
            except TimeoutError:
                why = f"timed out after {self.timeout_s:g} s"
                break
            except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
                why = f"request failed ({type(e).__name__}: {_short(e)})"
                continue
            checklist["lang"] = lang or ""
            self._cache.put(key, checklist)
            return checklist
        self.stats["failures"] += 1
        log.warning(
            "LLM rater %s gave no checklist for competency %s (answer %s): %s; "
            "the built-in scorer rates it",
            self.model,
            competency.id,
            key[:10],
            why,
        )
        return None

    def _complete(
        self,
        messages: list[dict[str, str]],
        the_schema: dict[str, Any],
        timeout: float,
        temperature: float,
    ) -> str:
        deadline = time.monotonic() + timeout
        while True:
            body: dict[str, Any] = {
                "model": self.model,
                "messages": messages,
                "temperature": temperature,
                "max_tokens": self.max_tokens,
            }
            if self.reply_format == "json_schema":  # OpenAI, vLLM, Ollama, llama.cpp's server
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": SCHEMA_NAME, "strict": True, "schema": the_schema},
                }
            elif self.reply_format == "json_object":  # llama-cpp-python's server, vLLM
                body["response_format"] = {"type": "json_object", "schema": the_schema}
            try:
                reply = self._post(body, max(0.05, deadline - time.monotonic()))
                break
            except urllib.error.HTTPError as e:
                detail = _read(e)
                refused = e.code in (400, 415, 422, 501) or (
                    e.code == 500 and re.search(r"response_format|schema|grammar", detail)
                )
                if self.reply_format == "plain" or not refused:
                    raise
                # this server has no such structured output: the next kind from now on
                log.info("LLM rater: %s refused %s (HTTP %s)", self.url, self.reply_format, e.code)
                self.reply_format = _FORMATS[_FORMATS.index(self.reply_format) + 1]
        content = reply["choices"][0]["message"]["content"]
        if not isinstance(content, str):
            raise InvalidReply("no message content")
        return content

    def _post(self, body: Mapping[str, Any], timeout: float) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        req = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        self.stats["requests"] += 1
        deadline = time.monotonic() + timeout
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.URLError as e:
            if isinstance(e.reason, TimeoutError):
                raise TimeoutError from None
            raise
        if time.monotonic() > deadline:
            raise TimeoutError
        try:
            reply = json.loads(raw)
        except json.JSONDecodeError:
            raise InvalidReply("the server's response is not JSON") from None
        if not isinstance(reply, dict):
            raise InvalidReply("the server's response is not a JSON object")
        return reply


_FORMATS = ("json_schema", "json_object", "plain")


def _fix_it(why: str) -> str:
    return (
        f"That reply is not valid: {why}. Reply again with the corrected JSON object only; "
        "every quote must be words copied exactly from the answer."
    )


def _read(e: urllib.error.HTTPError) -> str:
    try:
        return e.read(2000).decode("utf-8", "replace")
    except OSError:
        return ""


def _short(e: BaseException) -> str:
    return str(e).splitlines()[0][:120] if str(e) else ""


def from_config(scoring: Any) -> LlmRater | None:
    """The rater `[scoring] llm_url` asks for, or None (the built-in rater only)."""
    if not getattr(scoring, "llm_url", ""):
        return None
    return LlmRater(
        scoring.llm_url,
        scoring.llm_model,
        api_key=scoring.llm_api_key or None,
        timeout_s=scoring.llm_timeout_s,
        retries=scoring.llm_retries,
        cache_path=scoring.llm_cache or None,
    )
