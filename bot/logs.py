"""Log set-up: plain lines, or JSON lines with ``SUPPORTBOT_LOG_FORMAT=json``.

A record may carry ``fields`` (``extra={"fields": {...}}``): the one line per Slack request
does (team, user, command, outcome, latency). Plain lines show them as ``key=value``
after the message; JSON lines as keys of the object. Fields never hold message text or
secrets: only ids, names of commands and outcomes, and figures.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
import time
from typing import Any

FORMATS = ("text", "json")
_TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(_TEXT)
        self._stamp: tuple[int, str] = (-1, "")  # (second, its text): one pair, set at once

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """Python's own stamp (``2026-12-01 23:40:12,345``), the date and time written
        once per second: ``strftime`` was the dearest part of a line."""
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second, text = self._stamp
        if second != int(record.created):
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._stamp = (second, text)
        return f"{text},{int(record.msecs):03d}"  # as Python's default_msec_format

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
    if value is None:
        return "-"
    if isinstance(value, int | float):
        return str(value)  # digits, sign, point, exponent, inf, nan: all plain
    return _word(str(value))


@functools.lru_cache(maxsize=4096)  # the same ids, commands and outcomes, line after line
def _word(text: str) -> str:
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
