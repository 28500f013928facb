"""Warm pings in a Python Lambda agent: answered before the real handler runs."""

from __future__ import annotations

import functools
import time
import uuid
from typing import Any, Callable

#: The longest a ping may hold its container, as the suite's own functions bound it.
MAX_HOLD_MS = 5000

_CONTAINER_ID = str(uuid.uuid4())
_invoked = False


def _ping(event: Any) -> Any:
    """The ping in ``event``: exactly ``{"warmer": {...}}``, nothing else."""
    if isinstance(event, dict) and len(event) == 1 and isinstance(event.get("warmer"), dict):
        return event["warmer"]
    return None


def answers_warm_pings(handler: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Wraps a Lambda handler: the warmer's ping is held for its ``hold_ms`` (so concurrent
    pings land on distinct containers) and answered with ``{warm, cold_start, container_id,
    correlation_id}`` without calling the handler; every other event goes to the handler."""

    @functools.wraps(handler)
    def wrapped(event: Any, context: Any) -> Any:
        global _invoked
        cold_start, _invoked = not _invoked, True
        ping = _ping(event)
        if ping is None:
            return handler(event, context)
        try:
            hold_ms = min(max(int(ping.get("hold_ms", 0)), 0), MAX_HOLD_MS)
        except (TypeError, ValueError):
            hold_ms = 0
        if hold_ms:
            time.sleep(hold_ms / 1000.0)
        return {
            "warm": True,
            "cold_start": cold_start,
            "container_id": _CONTAINER_ID,
            "correlation_id": str(ping.get("correlation_id", "")),
        }

    return wrapped
