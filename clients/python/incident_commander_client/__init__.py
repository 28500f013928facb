"""Client for agents of the Incident Commander control plane.

What every agent does (docs/agents.md in the repository), packaged: signed requests with retries
that honour ``Retry-After`` and carry idempotency ids, a heartbeat thread that drains and
deregisters on stop, an assignment context manager that always releases, usage reports counted
once, model selection, and a decorator that answers warm pings before a Lambda handler runs.
"""

from ._assignment import Assignment, assignment
from ._client import ApiError, Client, RetryPolicy
from ._heartbeat import Heartbeat
from ._warm import answers_warm_pings

__all__ = [
    "ApiError",
    "Assignment",
    "Client",
    "Heartbeat",
    "RetryPolicy",
    "answers_warm_pings",
    "assignment",
]
