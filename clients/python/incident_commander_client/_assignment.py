"""Select around a piece of work, release when it ends: also when it raises."""

from __future__ import annotations

import contextlib
import time
import uuid
from dataclasses import dataclass
from typing import Iterator, Optional

from ._client import Client


@dataclass
class Assignment:
    """The replica an incident went to; ``ok`` may be set to False to release as failed
    without raising."""

    agent_type: str
    incident_id: str
    replica_id: str
    region: str
    ok: bool = True
    released: Optional[dict] = None


@contextlib.contextmanager
def assignment(
    client: Client,
    agent_type: str,
    severity: str,
    incident_id: Optional[str] = None,
    region: Optional[str] = None,
    strategy: Optional[str] = None,
) -> Iterator[Assignment]:
    """Selects a replica for the incident and releases it when the block ends: ``ok`` unless
    the block raised (the error still propagates), with the block's duration as latency."""
    incident_id = incident_id or str(uuid.uuid4())
    picked = client.select(agent_type, severity, incident_id=incident_id, region=region, strategy=strategy)
    held = Assignment(agent_type, incident_id, picked["replica_id"], picked["region"])
    started = time.monotonic()
    try:
        yield held
    except BaseException:
        held.ok = False
        raise
    finally:
        latency_ms = (time.monotonic() - started) * 1000.0
        held.released = client.release(agent_type, held.replica_id, held.ok, latency_ms, incident_id)
