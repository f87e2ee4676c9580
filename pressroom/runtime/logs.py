"""Logging for the worker, the API and the CLI: JSON or text lines, job context, secret scrubbing.

Owns: `configure_logging` (LOG_FORMAT=json|text, LOG_LEVEL), the per-task job context
(`log_context` binds jobId, step, attempt... for everything logged inside it, through a
ContextVar, so concurrent activities on one worker never mix their fields), and the last line
of defence for secrets: every configured secret value and any URL userinfo or token-like query
value is masked in the final line, whatever library produced the message.

Temporal's own loggers attach `temporal_activity` / `temporal_workflow` dicts to their records;
the job fields are taken from those too, so SDK lines carry the job id like ours.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

__all__ = ["configure_logging", "log_context"]

MASK = "***"
# Shorter values are not masked: they would turn ordinary words into asterisks.
MIN_SECRET_LEN = 6

_CONTEXT: ContextVar[dict[str, Any] | None] = ContextVar("pressroom_log_context", default=None)
_SECRETS: set[str] = set()
_USERINFO = re.compile(r"(?<=//)[^/@\s]+@")
_QUERY_SECRET = re.compile(
    r"((?:token|key|secret|signature|sig|password|passwd|credential|auth)[\w-]*=)[^&\s\"']+",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"']+")
# Attributes every LogRecord has; anything else on a record is an `extra=` field.
_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
# Temporal's logger dicts -> our field names.
_TEMPORAL_FIELDS = {
    "workflow_id": "jobId",
    "run_id": "runId",
    "activity_type": "activity",
    "attempt": "attempt",
    "workflow_type": "workflowType",
}


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add `fields` to every record logged by this task (and tasks it starts) inside."""
    current = _CONTEXT.get() or {}
    token = _CONTEXT.set({**current, **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_context() -> dict[str, Any]:
    return dict(_CONTEXT.get() or {})


def register_secrets(values: Iterable[str | None]) -> None:
    """Mask these values wherever they would appear in a log line (process-wide)."""
    for value in values:
        if value and len(value) >= MIN_SECRET_LEN:
            _SECRETS.add(value)


def scrub(text: str) -> str:
    """`text` with registered secrets, URL userinfo, token-like query values and bearer
    tokens masked."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    text = _USERINFO.sub(MASK + "@", text)
    text = _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)
    return _BEARER.sub(lambda m: m.group(1) + MASK, text)


def _job_fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for attr in ("temporal_workflow", "temporal_activity"):
        details = getattr(record, attr, None)
        if isinstance(details, dict):
            for key, name in _TEMPORAL_FIELDS.items():
                if key in details:
                    fields[name] = details[key]
    fields.update(current_context())
    return fields


class ContextFilter(logging.Filter):
    """Copies the job context onto each record (as `record.pressroom`) for the formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.pressroom = _job_fields(record)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, job fields, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "pressroom", None)
        out.update(fields if isinstance(fields, dict) else _job_fields(record))
        for key, value in record.__dict__.items():
            if key in _RESERVED or key in out or key.startswith("_") or key == "pressroom":
                continue
            if key in ("temporal_workflow", "temporal_activity"):
                continue
            out[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return scrub(json.dumps(out, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """The classic line, with the job fields appended as `key=value`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "pressroom", None) or {}
        if fields:
            line += " " + " ".join(f"{k}={v}" for k, v in fields.items())
        return scrub(line)


def make_handler(log_format: str, stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    return handler


def configure_logging(settings: Any, stream: Any = None) -> None:
    """Install one root handler per LOG_FORMAT/LOG_LEVEL and register the settings' secrets.

    `settings` is a `pressroom.config.Settings` (typed loosely to keep this module free of
    configuration imports, so anything can log through it)."""
    register_secrets(secret_values(settings))
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_pressroom", False):
            root.removeHandler(handler)
    handler = make_handler(getattr(settings, "log_format", "text"), stream)
    handler._pressroom = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(str(getattr(settings, "log_level", "INFO")).upper())


def secret_values(settings: Any) -> list[str]:
    """Every secret value a Settings object holds (any SecretStr field, tokens split)."""
    values: list[str] = []
    for name in type(settings).model_fields:
        value = getattr(settings, name, None)
        getter = getattr(value, "get_secret_value", None)
        if getter is None:
            continue
        raw = getter()
        if not raw:
            continue
        values.append(raw)
        if name == "api_tokens":
            values.extend(t.strip() for t in raw.split(",") if t.strip())
        # A database URL's password alone, too: drivers print DSNs piecewise.
        match = re.match(r"^[a-z+]+://[^:/@]*:([^@]+)@", raw)
        if match:
            values.append(match.group(1))
    return values
