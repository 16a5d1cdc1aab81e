"""Seeded generators of hostile PBX input: ARI events (websocket text), FastAGI environments
and command replies, AMI messages and ESL frames, each a mutation of what Asterisk 22 or
FreeSWITCH really send (tests/peers).

Every generator takes a `random.Random`, so a seed reproduces a run exactly. The mutations
are what a broken or hostile PBX can send: wrong JSON types (`channel` a list, ids of 10 000
characters, `cause` a string), deep JSON, truncated and huge lines, non-UTF-8 bytes,
missing and duplicated headers, numbers `int()` refuses, and `Content-Length` lies.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any

from tests.peers.agi_peer import agi_environment
from tests.robustness.generators import HOSTILE_NUMBERS

HOSTILE_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**70,
    1.5,
    "",
    "x" * 10_000,
    "\udc80",  # a lone surrogate (JSON allows the escape)
    "\u00b2",
    [],
    [1, [2]],
    {},
    {"id": {}},
    "9" * 5000,
]
HOSTILE_TEXT = ["", "\x00", "\u00b2", "9" * 5000, "x" * 10_000, "%zz", "%", "é" * 100, "a: b"]

# ARI -------------------------------------------------------------------------------------


def ari_seeds(channel_id: str) -> list[dict[str, Any]]:
    """Well-formed events as Asterisk 22 sends them, for channel `channel_id`."""
    channel = {
        "id": channel_id,
        "name": "PJSIP/trunk-00000001",
        "state": "Up",
        "caller": {"name": "", "number": "+15551230001"},
        "connected": {"name": "", "number": ""},
        "accountcode": "",
        "dialplan": {"context": "default", "exten": "s", "priority": 1, "app_name": "Stasis"},
        "creationtime": "2026-01-01T00:00:00.000+0000",
        "language": "en",
        "channelvars": {"CANDIDATE_ID": "c-1"},
    }
    base = {"application": "voicebot", "timestamp": "2026-01-01T00:00:00.000+0000"}

    def event(kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": kind, **base, "channel": dict(channel), **fields}

    return [
        event("StasisStart", args=[]),
        event("ChannelDtmfReceived", digit="5", duration_ms=120),
        event("ChannelHangupRequest", cause=16),
        event("ChannelStateChange"),
        event("ChannelDestroyed", cause=16, cause_txt="Normal Clearing"),
        event("StasisEnd"),
        {"type": "RecordingFinished", **base, "recording": {"name": "r1", "state": "done"}},
        {"type": "RecordingFailed", **base, "recording": {"name": "r1", "cause": "x"}},
    ]


def _deep(rng: random.Random) -> str:
    depth = rng.choice([100, 1000, 20_000, 200_000])
    opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
    return opener * depth + "1" + closer * depth * rng.choice([0, 1])


def mutate_event(rng: random.Random, event: dict[str, Any]) -> str:
    """One hostile text frame from a well-formed event."""
    ev = json.loads(json.dumps(event))
    choice = rng.randrange(12)
    if choice == 0:  # a field of the event of a wrong type
        ev[rng.choice([*ev, "args", "cause", "digit"])] = rng.choice(HOSTILE_VALUES)
    elif choice == 1 and isinstance(ev.get("channel"), dict):  # a field of the channel
        key = rng.choice(["id", "caller", "channelvars", "state", "dialplan"])
        ev["channel"][key] = rng.choice(HOSTILE_VALUES)
    elif choice == 2:
        ev["channel"] = rng.choice(HOSTILE_VALUES)
    elif choice == 3:
        ev["args"] = rng.choice([["amd"], ["amd", 5], [{}], "amd", 7, [None] * 3, ["x" * 10_000]])
    elif choice == 4:
        return _deep(rng)
    elif choice == 5:  # cut anywhere
        text = json.dumps(ev)
        return text[: rng.randrange(len(text))]
    elif choice == 6:
        return rng.choice(["[]", "null", "1", '"StasisStart"', "NaN", "{}", "", " ", "\x00"])
    elif choice == 7:  # a huge string somewhere
        ev[rng.choice(["type", "digit", "x"])] = "y" * rng.choice([70_000, 1_000_000])
    elif choice == 8:  # duplicate keys, NaN and friends (Python's json takes them)
        text = json.dumps(ev)
        extra = rng.choice(['"type": 5', '"cause": NaN', '"duration_ms": Infinity',
                            '"cause": 1e400', '"channel": []'])  # fmt: skip
        return text[:-1] + ", " + extra + "}"
    elif choice == 9:
        ev["type"] = rng.choice([*HOSTILE_TEXT, "Channel", "Stasis", "ChannelX", 5, None])
    elif choice == 10:
        for key in rng.sample(sorted(ev), rng.randrange(1, len(ev) + 1)):
            del ev[key]
    else:
        ev["cause" if rng.random() < 0.5 else "duration_ms"] = rng.choice(
            [*HOSTILE_NUMBERS, 1e308, -(2**63), 2**64]
        )
    return json.dumps(ev)


def ari_inputs(rng: random.Random, n: int, channel_id: str) -> Iterator[str]:
    """`n` hostile event frames. Events for the live call's channel (`channel_id`) are only
    ones that must not end it; the others name a stranger's channel or a hostile id."""
    live = ari_seeds(channel_id)[:4]
    strangers = ari_seeds("stranger")
    made = 0
    while made < n:
        if rng.random() < 0.4:
            text = mutate_event(rng, rng.choice(live))
            if '"ChannelDestroyed"' in text or '"StasisEnd"' in text:
                continue  # a mutated type could now end the live call, rightly
        else:
            seed = rng.choice(strangers)
            if "channel" in seed:
                seed["channel"]["id"] = rng.choice(["", "x" * 10_000, f"s{rng.randrange(10**9)}"])
            text = mutate_event(rng, seed)
        made += 1
        yield text


# FastAGI ---------------------------------------------------------------------------------


def agi_env_inputs(rng: random.Random, port: int) -> tuple[bytes, bool]:
    """An `agi_*` environment, well-formed or not; True if it is well-formed."""
    good = agi_environment(port, "+15551230001").encode()
    choice = rng.randrange(10)
    if choice < 5:
        return good, True
    lines = good.split(b"\n")[:-2]
    if choice == 5:
        return good[: rng.randrange(len(good) - 1)], False  # cut before the blank line
    if choice == 6:
        lines.insert(rng.randrange(len(lines)), b"agi_x: " + b"y" * rng.choice([20_000, 70_000]))
    elif choice == 7:
        lines = [line for line in lines if not line.startswith(b"agi_channel")]
    elif choice == 8:
        lines.insert(rng.randrange(len(lines)), rng.choice([b"\xff\xfe", b"no colon", b"\x00"]))
    else:
        return rng.randbytes(rng.randrange(1, 300)) + b"\n\n", False
    return b"\n".join(lines) + b"\n\n", False


AGI_REPLIES = [
    b"200 result=",
    b"200 result=1 (",
    b"200 result=-1",
    b"200 result=abc",
    b"200 result=1 (" + b"x" * 20_000 + b")",
    b"200",
    b"",
    b"HANGUP",
    b"100 Trying...",
    b"520-Invalid command syntax.  Proper usage follows:",
    b"520 Invalid command syntax.",
    b"510 Invalid or unknown command",
    b"511 Command Not Permitted on a dead channel or intercept routine",
    b"\xc2\xb200 result=0",
    b"9" * 5000 + b" result=0",
    b"-1 result=0",
    b"garbage",
    b"\xff\xfe\xfd",
    b"200 result=0 (\xff)",
    b"200 result=1 (hangup)",
    b"\x00",
]


def agi_reply(rng: random.Random, good: bytes) -> bytes:
    """A reply to one command: the good one, a hostile line, several, or a cut one."""
    choice = rng.randrange(6)
    if choice < 2:
        return good
    if choice == 2:  # the connection ends instead (the caller hung up, Asterisk died)
        return b""
    if choice == 3:
        return b"\n".join(rng.choice(AGI_REPLIES) for _ in range(rng.randrange(1, 5))) + b"\n"
    if choice == 4:  # a line that never ends (it will be followed by EOF)
        return rng.choice(AGI_REPLIES) + rng.choice([b"", b"\r"])
    return rng.choice(AGI_REPLIES) + b"\n"


def agi_good_reply(command: str) -> bytes:
    """What Asterisk answers a command voicebot sends."""
    if command.startswith("GET VARIABLE"):
        return b"200 result=1 (c-9)\n"
    return b"200 result=0\n"


# AMI -------------------------------------------------------------------------------------


def ami_message(**headers: str | list[str]) -> bytes:
    lines = []
    for key, value in headers.items():
        for v in value if isinstance(value, list) else [value]:
            lines.append(f"{key.replace('_', '-')}: {v}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def ami_inputs(rng: random.Random, n: int) -> Iterator[bytes]:
    """`n` hostile AMI messages (after a good Login), for channels voicebot did not dial."""
    for _ in range(n):
        uid = rng.choice(["1732465200.7", "", "x" * 10_000])
        choice = rng.randrange(12)
        if choice == 0:  # no Event: nor Response:
            yield ami_message(Privilege="call,all", Uniqueid=uid, Cause="16")
        elif choice == 1:  # duplicated headers (panoramisk makes lists of them)
            key = rng.choice(["Event", "ActionID", "Uniqueid", "Response", "Cause"])
            yield ami_message(**{"Event": "Hangup", "Uniqueid": uid, key: ["Hangup", "x"]})
        elif choice == 2:
            cause = rng.choice(HOSTILE_NUMBERS)
            kind = rng.choice(["Hangup", "HangupRequest", "DialEnd", "Newchannel"])
            yield ami_message(Event=kind, Uniqueid=uid, Cause=cause, DialStatus=cause)
        elif choice == 3:  # a Response nobody asked for
            yield ami_message(Response=rng.choice(["Success", "Error", "Follows", "Goodbye"]),
                              ActionID=rng.choice(["", "nobody/1", "x" * 5000]),
                              Message="Originate successfully queued")  # fmt: skip
        elif choice == 4:
            yield b"Response: Follows\r\nPrivilege: Command\r\n" + rng.randbytes(200) + b"\r\n\r\n"
        elif choice == 5:  # a huge message
            yield ami_message(Event="VarSet", Value="v" * rng.choice([70_000, 2_000_000]))
        elif choice == 6:  # non-UTF-8, NUL, bare LF
            yield rng.choice([b"Event: \xff\xfe\r\n\r\n", b"Event: Hangup\x00\r\n\r\n",
                              b"Event: Hangup\nUniqueid: 1\n\n", b"\r\n\r\n\r\n"])  # fmt: skip
        elif choice == 7:  # cut: the rest comes with the next message
            whole = ami_message(Event="Hangup", Uniqueid=uid, Cause="16")
            yield whole[: rng.randrange(1, len(whole) - 1)]
        elif choice == 8:
            yield rng.randbytes(rng.randrange(1, 400))
        elif choice == 9:
            yield ami_message(Event=rng.choice(HOSTILE_TEXT) or "X", Uniqueid=uid)
        elif choice == 10:
            yield ami_message(**{"Event": "Hangup", "Uniqueid": uid, "Cause-txt": "é\u00b2"})
        else:
            yield ami_message(Event="OriginateResponse", Response="Failure",
                              ActionID=rng.choice(HOSTILE_TEXT), Reason=rng.choice(HOSTILE_NUMBERS),
                              Uniqueid=uid)  # fmt: skip


# ESL -------------------------------------------------------------------------------------


def esl_frame(content_type: str | None, body: bytes = b"", length: str | None = None,
              extra: list[str] = ()) -> bytes:  # fmt: skip
    lines = [f"Content-Type: {content_type}"] if content_type is not None else []
    if length is None and body:
        length = str(len(body))
    if length is not None:
        lines.insert(0, f"Content-Length: {length}")
    lines += list(extra)
    return ("\n".join(lines) + "\n\n").encode("utf-8", "surrogateescape") + body


def _plain(name: str, **fields: str) -> bytes:
    text = f"Event-Name: {name}\n" + "".join(f"{k}: {v}\n" for k, v in fields.items())
    return text.encode("utf-8", "surrogateescape")


def esl_inputs(rng: random.Random, n: int) -> Iterator[tuple[bytes, bool]]:
    """`n` hostile ESL frames, each with True when it leaves the stream in frame (a reply to
    the next command can still be read as such); `Content-Length` lies do not."""
    lengths: list[str] = ["abc", "-1", "\u00b2", "9" * 5000, " 12 ", "0x10", "1e3", "", str(2**21)]
    plain = "text/event-plain"
    for _ in range(n):
        choice = rng.randrange(10)
        event = _plain(rng.choice(["BACKGROUND_JOB", "CHANNEL_HANGUP_COMPLETE", "DTMF", "X"]),
                       Job_UUID=rng.choice(["nobody", "%zz", "x" * 5000]),
                       Unique_ID=rng.choice(["%", "%FF%FE", "leg"]),
                       Hangup_Cause=rng.choice(HOSTILE_TEXT))  # fmt: skip
        if choice == 0:  # a Content-Length that is no length
            yield esl_frame(plain, event, rng.choice(lengths)), False
        elif choice == 1:  # more than is sent: the next frames are eaten as its body
            yield (
                esl_frame(plain, event, str(len(event) + rng.randrange(1, 99))),
                False,
            )
        elif choice == 2:  # less: the rest reads as headers
            yield esl_frame(plain, event, str(rng.randrange(len(event)))), False
        elif choice == 3:
            yield esl_frame(plain, event), True
        elif choice == 4:
            yield esl_frame(rng.choice([None, "", "x/y", "text/event-json", "log/data"]),
                            rng.randbytes(rng.randrange(0, 50))), True  # fmt: skip
        elif choice == 5:  # a header line too long for any reader
            yield ("X-Junk: " + "j" * rng.choice([70_000, 300_000]) + "\n\n").encode(), True
        elif choice == 6:
            yield rng.choice([b"\xff\xfe: \xfd\n\n", b"\x00\n\n", b"Content-Type\n\n",
                              b"Content-Type: text/event-plain\r\n\r\n"]), True  # fmt: skip
        elif choice == 7:  # a duplicated Content-Length, the second one a lie
            yield (
                esl_frame(plain, event, extra=[f"Content-Length: {len(event) + 5}"]),
                False,
            )
        elif choice == 8:  # a reply nobody asked for
            yield (
                esl_frame("command/reply", extra=[f"Reply-Text: {rng.choice(HOSTILE_TEXT)}"]),
                True,
            )
        else:
            body = rng.choice([b"%zz%", b"\xff\xfe\n\n\n", b"Event-Name\n", b"=\n: \n"])
            yield esl_frame(plain, body), True


GENERATORS: dict[str, Callable[..., Iterator[Any]]] = {
    "ari": ari_inputs,
    "ami": ami_inputs,
    "esl": esl_inputs,
}
