"""A long-running agent's heartbeat: a thread reporting every interval, through errors and
restarts of the control plane, that drains and deregisters the replica when it stops."""

from __future__ import annotations

import logging
import threading
from typing import Callable, Optional

from ._client import Client

log = logging.getLogger("incident_commander_client")


class Heartbeat:
    """Reports ``load()`` every ``interval_s`` (30 s by default, the suite's default; a replica
    vanishes after three missed intervals). A failed report is logged and the next one goes out
    on time: the loop never ends on an error, so it outlives an outage of the API.

    Use as a context manager, or ``start()`` / ``stop()``.
    """

    def __init__(
        self,
        client: Client,
        agent_type: str,
        replica_id: str,
        region: str,
        capacity: int,
        load: Callable[[], float] = lambda: 0.0,
        interval_s: float = 30.0,
        healthy: Callable[[], bool] = lambda: True,
        performance_score: Callable[[], float] = lambda: 1.0,
    ):
        self.client = client
        self.agent_type, self.replica_id, self.region = agent_type, replica_id, region
        self.capacity = capacity
        self.load, self.healthy, self.performance_score = load, healthy, performance_score
        self.interval_s = interval_s
        self.sent = 0
        self.failed = 0
        self.last_error: Optional[BaseException] = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def beat(self, draining: bool = False) -> None:
        self.client.heartbeat(
            self.agent_type,
            self.replica_id,
            self.region,
            load=self.load(),
            capacity=self.capacity,
            healthy=self.healthy(),
            performance_score=self.performance_score(),
            draining=draining,
        )

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.beat()
                self.sent += 1
            except Exception as error:  # noqa: BLE001 - a heartbeat loop must survive anything
                self.failed += 1
                self.last_error = error
                log.warning("heartbeat of %s failed: %s", self.replica_id, error)
            self._stop.wait(self.interval_s)

    def start(self) -> "Heartbeat":
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.replica_id}", daemon=True)
            self._thread.start()
        return self

    def stop(self, drain: bool = True, deregister: bool = True) -> None:
        """Stops reporting; by default drains the replica, then deregisters it (call after the
        work in hand is done: a drained replica takes no new incidents)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if drain:
            self.client.drain(self.agent_type, self.region, self.replica_id)
        if deregister:
            self.client.deregister(self.agent_type, self.region, self.replica_id)

    def __enter__(self) -> "Heartbeat":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
