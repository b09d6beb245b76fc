"""Log set-up: plain lines, or JSON lines with ``SUPPORTBOT_LOG_FORMAT=json``.

A record may carry ``fields`` (``extra={"fields": {...}}``): the one line per Slack request
does (team, user, command, outcome, latency). Plain lines show them as ``key=value``
after the message; JSON lines as keys of the object. Fields never hold message text or
secrets: only ids, names of commands and outcomes, and figures.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

FORMATS = ("text", "json")
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(_TEXT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if not fields:
            return line
        head, sep, rest = line.partition("\n")  # a traceback stays below the fields
        pairs = " ".join(f"{key}={_text_value(value)}" for key, value in fields.items())
        return f"{head} {pairs}{sep}{rest}"


_PLAIN = re.compile(r"[\w./:@+#-]+")


def _text_value(value: Any) -> str:
    """A field's value as one word: quoted (JSON string) unless plain, so no value can
    break the line or pass for another field."""
    text = "-" if value is None else str(value)
    return text if _PLAIN.fullmatch(text) else json.dumps(text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the
    record's fields, and the traceback as ``exception`` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in _fields(record).items():
            data.setdefault(key, value)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure(*, level: int, log_format: str = "text") -> None:
    """Send every log record to standard error in ``log_format`` ("text" or "json").

    Like ``logging.basicConfig``, it leaves alone a logging set up by someone else (a
    test harness, an embedding program): only its own handler is ever replaced."""
    if log_format not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}, not {log_format!r}")
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "_supportbot", False)]
    if len(ours) != len(root.handlers):
        return
    for old in ours:
        root.removeHandler(old)
    handler = logging.StreamHandler()
    handler._supportbot = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    # Neither format shows where a record was logged from, nor its thread or process:
    # not looking them up spares every record (one per Slack request) a walk up the
    # stack (Python's logging documentation, "Optimization").
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
