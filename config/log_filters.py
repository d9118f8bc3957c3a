"""Logging filters: what must never reach a log line."""

from __future__ import annotations

import logging
import re

#: A hand-off link's token is the permission to its pages, like a password: access lines and
#: "Gone"/"Not Found" warnings name the path it is in.
HANDOFF_TOKEN = re.compile(r"(/handoff/)[^/\s\"'?#]+")
REDACTED = r"\1[token]"


class RedactHandoffTokens(logging.Filter):
    """Replace the token of every hand-off path in the formatted message (the record keeps no
    arguments that could bring it back)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/handoff/" in message:
            record.msg = HANDOFF_TOKEN.sub(REDACTED, message)
            record.args = ()
        return True
