"""How the process logs: lines for people, or one JSON object a line for a log pipeline
(`log_format = "json"`), with any phone number that slipped into a message masked."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

from voicebot.pii import redact

# an E.164 number (+ and 8-15 digits), alone or as a SIP user: what must never be logged plain
_NUMBER = re.compile(r"(?<![\w+])\+\d{8,15}\b")


def mask_numbers(text: str) -> str:
    return _NUMBER.sub(lambda m: redact(m.group(0)), text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "msg": mask_numbers(record.getMessage()),
        }
        if record.exc_info:
            out["exc"] = mask_numbers(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: str, fmt: str = "text") -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=fmt == "json")
