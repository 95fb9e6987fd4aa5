"""Logging setup: plain text for people, or one JSON object per line for log collectors; both carry
the id of the request being served (``request_id``), set by ``api/interceptors.py`` for the duration
of each RPC.

The request id lives in a ``ContextVar`` because grpc.aio runs each RPC in its own task: anything
logged while that task runs (servicer, service, error wrapper) sees the id of its own request and no
other. Work handed to the model thread serves a whole batch of requests, so it logs without one.
"""
from __future__ import annotations

import json
import logging
import time
from contextvars import ContextVar

request_id: ContextVar[str | None] = ContextVar("xmodal_request_id", default=None)

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class TextFormatter(logging.Formatter):
    """The usual text line, with ``[request_id=...]`` appended inside an RPC."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None) or request_id.get()
        if not rid:
            return line
        head, sep, rest = line.partition("\n")  # keep a traceback below the tagged first line
        return f"{head} [request_id={rid}]{sep}{rest}"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id inside an
    RPC, and exception (the formatted traceback) when there is one. ``json.dumps`` escapes newlines,
    so a multi-line message or traceback never splits a record."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": _iso_utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid:
            out["request_id"] = rid
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def _iso_utc(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    if log_format == "text":
        return TextFormatter()
    raise ValueError(f"unknown log format {log_format!r}; expected 'text' or 'json'")


def setup_logging(level: str, log_format: str) -> None:
    """Root handler on stderr with the chosen format. Python warnings go through logging too, so that a
    JSON log stays one JSON object per line."""
    handler = logging.StreamHandler()
    handler.setFormatter(make_formatter(log_format))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.captureWarnings(True)
