"""Keeps API keys out of the log.

uvicorn logs every WebSocket handshake's path with its query (``"WebSocket /v1/ws?token=hs_…"
[accepted]``) even with the access log off, and the access log (``--access-log``) logs REST
paths with theirs. A filter on uvicorn's and our loggers and on every handler rewrites each
record's message, arguments and traceback text before any handler formats it.
"""

from __future__ import annotations

import logging
import re
from typing import Any

# A key (``hs_`` and 43 URL-safe characters) anywhere, and any ``token=`` value, even a wrong one:
# a mistyped key is most of a real one.
_KEY = re.compile(r"hs_[A-Za-z0-9_-]+")
_TOKEN = re.compile(r"(?i)(token=)[^&\s\"']+")
REDACTED = "[redacted]"
# The loggers that see request paths or headers: uvicorn's, the websockets library's, ours.
LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access", "websockets", "websockets.server", "huashu")


def redact(text: str) -> str:
    return _KEY.sub("hs_" + REDACTED, _TOKEN.sub(r"\1" + REDACTED, text))


def _redact_arg(arg: Any) -> Any:
    if isinstance(arg, str):
        return redact(arg)
    if isinstance(arg, int | float | type(None)):
        return arg
    text = str(arg)
    cleaned = redact(text)
    # Only an argument that held a key becomes its (redacted) text; the others keep their type.
    return cleaned if cleaned != text else arg


class RedactKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_arg(arg) for arg in record.args)
        elif isinstance(record.args, dict):
            record.args = {name: _redact_arg(arg) for name, arg in record.args.items()}
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


_FILTER = RedactKeys()


def install() -> None:
    """Adds the filter to the loggers above and to every handler they have now. Called when the
    app is made and again at start-up, after the server has configured its logging (which
    replaces handlers); adding it twice is harmless."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
        for handler in logger.handlers:
            if _FILTER not in handler.filters:
                handler.addFilter(_FILTER)
