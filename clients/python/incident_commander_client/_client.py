"""The API, request by request: JSON in and out, SigV4 for a deployed stack, retries."""

from __future__ import annotations

import ipaddress
import json
import random
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

#: Statuses worth another attempt: throttled, or the API or its store briefly unavailable.
RETRYABLE = frozenset({429, 502, 503, 504})
#: The most a server's ``Retry-After`` makes a client wait, seconds.
MAX_RETRY_AFTER_S = 30.0
#: How long an endpoint that failed is passed over before it is health-checked again, seconds.
DEFAULT_RECHECK_S = 30.0
#: How long that health check may take, seconds.
HEALTH_TIMEOUT_S = 3.0
#: The most regional endpoints one client takes.
MAX_ENDPOINTS = 8


class ApiError(Exception):
    """The API refused a request: its status and problem document (RFC 9457)."""

    def __init__(self, status: int, problem: Any):
        self.status = status
        self.problem = problem if isinstance(problem, dict) else {}
        detail = self.problem.get("detail") or self.problem.get("title") or ""
        super().__init__(f"{status}: {detail}")


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter: attempt n waits a random time up to
    ``min(cap_s, base_s * 2**n)``, and at least what ``Retry-After`` asked."""

    attempts: int = 5
    base_s: float = 0.1
    cap_s: float = 5.0

    def delay(self, attempt: int, retry_after: Optional[float]) -> float:
        jittered = random.uniform(0, min(self.cap_s, self.base_s * 2**attempt))
        return max(jittered, min(retry_after or 0.0, MAX_RETRY_AFTER_S))


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _region_of(url: str) -> Optional[str]:
    parts = (urllib.parse.urlsplit(url).hostname or "").split(".")
    return parts[2] if len(parts) >= 4 and parts[1] == "execute-api" else None


def _retry_after(headers: Any) -> Optional[float]:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class Client:
    """One API: a deployed stack (every request SigV4-signed, service ``execute-api``, with
    botocore's credentials) or ``commander serve`` on loopback (nothing signed).

    ``api_url`` may be a list: the API's regional endpoints (a control plane deployed in two
    regions has one in each) in order of preference. Calls go to the first that answers; one that
    gives no answer or a 502-504 is passed over for ``recheck_s`` and health-checked
    (``GET /health``) before it is used again. Each is signed for its own region.

    Every method that changes something sends an id that makes a retry safe, so all of them
    retry transient failures; ``report_model`` is the one exception (it counts failures in a
    row) and is sent once.
    """

    def __init__(
        self,
        api_url: Union[str, Sequence[str]],
        region: Optional[str] = None,
        credentials: Any = None,
        timeout_s: float = 10.0,
        retry: Optional[RetryPolicy] = None,
        sleep: Callable[[float], None] = time.sleep,
        recheck_s: float = DEFAULT_RECHECK_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        urls = [api_url] if isinstance(api_url, str) else list(api_url)
        if not 1 <= len(urls) <= MAX_ENDPOINTS:
            raise ValueError(f"api_url: give 1 to {MAX_ENDPOINTS} endpoints, not {len(urls)}")
        self._endpoints = []
        for url in urls:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"api_url {url!r} is not an http(s) URL")
            signer = None
            if not _is_loopback(url):
                signer = self._make_signer(region or _region_of(url), credentials)
            self._endpoints.append((url.rstrip("/"), signer))
        self._down_until: list[Optional[float]] = [None] * len(self._endpoints)
        self.api_url = self._endpoints[0][0]
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        self.recheck_s = recheck_s
        self._sleep = sleep
        self._clock = clock

    @property
    def signs(self) -> bool:
        """Whether requests to any of the endpoints are signed (none to a loopback one)."""
        return any(signer is not None for _, signer in self._endpoints)

    @property
    def endpoint(self) -> str:
        """The base URL a call made now would go to first (the first endpoint not passed over)."""
        for (url, _), down in zip(self._endpoints, self._down_until):
            if down is None:
                return url
        return self._endpoints[0][0]

    @staticmethod
    def _make_signer(region: Optional[str], credentials: Any) -> Any:
        import botocore.session
        from botocore.auth import SigV4Auth

        session = botocore.session.get_session()
        credentials = credentials or session.get_credentials()
        if credentials is None:
            raise ValueError("no AWS credentials to sign with (environment, profile or role)")
        region = region or session.get_config_variable("region")
        if not region:
            raise ValueError("no region to sign for: pass region=")
        return SigV4Auth(credentials, "execute-api", region)

    # -- the transport -------------------------------------------------------------------------

    def _choose(self) -> int:
        """The endpoint for the next attempt: the first in order that is up, health-checking
        one that failed before once its recheck time has passed; with every one down, the one
        back soonest."""
        now = self._clock()
        for i, down in enumerate(self._down_until):
            if down is None:
                return i
            if down <= now:
                try:
                    status, _, _ = self._send_to(i, "GET", "/health", None, HEALTH_TIMEOUT_S)
                except OSError:
                    status = 0
                if 200 <= status < 300:
                    self._down_until[i] = None
                    return i
                self._down_until[i] = self._clock() + self.recheck_s
        return min(range(len(self._down_until)), key=lambda i: self._down_until[i] or 0.0)

    def _send_once(self, method: str, path: str, body: Optional[dict]) -> tuple[int, Any, Any]:
        i = self._choose()
        try:
            status, answer, headers = self._send_to(i, method, path, body, self.timeout_s)
        except OSError:
            self._down_until[i] = self._clock() + self.recheck_s
            raise
        if status in (502, 503, 504):
            # The region's API cannot serve: the next call goes to the next endpoint.
            self._down_until[i] = self._clock() + self.recheck_s
        return status, answer, headers

    def _send_to(
        self, i: int, method: str, path: str, body: Optional[dict], timeout_s: float
    ) -> tuple[int, Any, Any]:
        base, signer = self._endpoints[i]
        url = base + path
        data = json.dumps(body).encode() if body is not None else None
        headers = {"Accept": "application/json"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if signer is not None:
            from botocore.awsrequest import AWSRequest

            signed = AWSRequest(method=method, url=url, data=data or b"", headers=headers)
            signer.add_auth(signed)
            headers = dict(signed.headers.items())
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None, response.headers
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                problem = json.loads(raw) if raw else None
            except ValueError:
                problem = None
            return error.code, problem, error.headers

    def request(
        self,
        method: str,
        path: str,
        body: Optional[dict] = None,
        retry: bool = True,
        retry_conflict: bool = False,
    ) -> Any:
        """Sends a request and answers the JSON body; raises :class:`ApiError` for a refusal
        and ``OSError`` when no answer came. With ``retry``, transient failures (no answer,
        429, 502-504, and 409 with ``retry_conflict``) are tried again per the policy."""
        attempts = self.retry.attempts if retry else 1
        for attempt in range(attempts):
            last = attempt + 1 == attempts
            try:
                status, answer, headers = self._send_once(method, path, body)
            except OSError:
                if last:
                    raise
                self._sleep(self.retry.delay(attempt, None))
                continue
            if 200 <= status < 300:
                return answer
            transient = status in RETRYABLE or (retry_conflict and status == 409)
            if not transient or last:
                raise ApiError(status, answer)
            self._sleep(self.retry.delay(attempt, _retry_after(headers)))
        raise AssertionError("unreachable")

    # -- what agents call ----------------------------------------------------------------------

    def heartbeat(
        self,
        agent_type: str,
        replica_id: str,
        region: str,
        load: float,
        capacity: int,
        healthy: bool = True,
        performance_score: float = 1.0,
        draining: bool = False,
    ) -> dict:
        body = {
            "agent_type": agent_type,
            "replica_id": replica_id,
            "region": region,
            "load": load,
            "capacity": capacity,
            "healthy": healthy,
            "performance_score": performance_score,
        }
        if draining:
            body["draining"] = True
        return self.request("POST", "/replicas/heartbeat", body)

    def drain(self, agent_type: str, region: str, replica_id: str) -> dict:
        replica = {"agent_type": agent_type, "region": region, "replica_id": replica_id}
        return self.request("POST", "/replicas/drain", replica)

    def deregister(self, agent_type: str, region: str, replica_id: str) -> dict:
        replica = {"agent_type": agent_type, "region": region, "replica_id": replica_id}
        return self.request("POST", "/replicas/deregister", replica)

    def select(
        self,
        agent_type: str,
        severity: str,
        incident_id: Optional[str] = None,
        region: Optional[str] = None,
        strategy: Optional[str] = None,
    ) -> dict:
        """Assigns an incident (``incident_id`` makes a retry answer the same replica; one is
        made up when none is given)."""
        body = {"agent_type": agent_type, "severity": severity, "incident_id": incident_id or str(uuid.uuid4())}
        if region:
            body["region"] = region
        if strategy:
            body["strategy"] = strategy
        return self.request("POST", "/replicas/select", body)

    def release(
        self, agent_type: str, replica_id: str, ok: bool, latency_ms: float, incident_id: Optional[str]
    ) -> dict:
        body = {"agent_type": agent_type, "replica_id": replica_id, "ok": ok, "latency_ms": latency_ms}
        if incident_id:
            body["incident_id"] = incident_id
        return self.request("POST", "/replicas/release", body, retry_conflict=True)

    def report_usage(
        self,
        model: str,
        task_type: str,
        severity: str,
        input_tokens: int,
        output_tokens: int,
        request_id: Optional[str] = None,
        latency_ms: Optional[float] = None,
        timestamp: Optional[str] = None,
    ) -> dict:
        """Reports one model call; ``request_id`` (made up when none is given) makes retries
        count once."""
        body = {
            "model": model,
            "task_type": task_type,
            "severity": severity,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "request_id": request_id or str(uuid.uuid4()),
        }
        if latency_ms is not None:
            body["latency_ms"] = latency_ms
        if timestamp is not None:
            body["timestamp"] = timestamp
        return self.request("POST", "/usage", body, retry_conflict=True)

    def select_model(self, task_type: str, severity: str, **limits: Any) -> dict:
        """The model to use (``required_accuracy``, ``max_cost_per_1k``, ``expected_input_tokens``,
        ``expected_output_tokens`` as keyword limits)."""
        return self.request("POST", "/models/select", {"task_type": task_type, "severity": severity, **limits})

    def report_model(self, model: str, ok: bool) -> dict:
        return self.request("POST", "/models/report", {"model": model, "ok": ok}, retry=False)

    def status(self) -> dict:
        return self.request("GET", "/scaling/status")
