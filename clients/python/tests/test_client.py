"""The client against `commander serve`: what an agent does, in the order it does it."""

import threading
import time

import pytest

from incident_commander_client import ApiError, Client, Heartbeat, RetryPolicy, answers_warm_pings, assignment


def fast(url):
    return Client(url, retry=RetryPolicy(attempts=6, base_s=0.05, cap_s=0.5))


def replicas(client, agent_type):
    return {r["replica_id"]: r for r in client.status()["replica_status"][agent_type]}


def wait_for(predicate, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_heartbeat_loop_survives_a_server_restart(server):
    client = fast(server.url)
    beat = Heartbeat(client, "detection", "det-py-1", "us-east-1", capacity=20, load=lambda: 4.0, interval_s=0.1)
    beat.start()
    assert wait_for(lambda: "det-py-1" in replicas(client, "detection"))
    server.stop()
    assert wait_for(lambda: beat.failed >= 2), "reports fail while the server is down"
    server.start()  # same port, empty memory store: only a new heartbeat brings the replica back
    assert wait_for(lambda: "det-py-1" in replicas(client, "detection")), "the loop kept going"
    sent = beat.sent
    beat.stop()  # drains, then deregisters
    assert beat.sent >= sent
    assert "det-py-1" not in replicas(client, "detection")


def test_an_assignment_is_released_when_the_work_raises(server):
    client = fast(server.url)
    client.heartbeat("resolution", "res-1", "us-east-1", load=0, capacity=1)
    with pytest.raises(RuntimeError):
        with assignment(client, "resolution", "high", incident_id="inc-raise") as held:
            assert held.replica_id == "res-1"
            raise RuntimeError("the fix failed")
    assert held.ok is False
    assert held.released["active"] == 0, held.released
    # The one slot is free again: another incident is assigned at once.
    with assignment(client, "resolution", "high") as second:
        assert second.replica_id == "res-1"
    assert second.released["active"] == 0


def test_a_retried_usage_report_counts_once(server):
    client = fast(server.url)
    call = dict(model="anthropic.claude-sonnet-4", task_type="diagnosis", severity="high",
                input_tokens=1000, output_tokens=200, request_id="inc-7:call-1")
    first = client.report_usage(**call)
    retried = client.report_usage(**call)
    assert (first["counted"], retried["counted"]) == (True, False)
    assert retried["hour"] == first["hour"]
    with pytest.raises(ApiError) as refused:
        client.report_usage(**{**call, "input_tokens": 5})
    assert refused.value.status == 409, "the same id for another call is refused, not retried"


def test_retries_honour_retry_after_and_give_up_on_refusals(server):
    waits = []
    client = Client(server.url, retry=RetryPolicy(attempts=3, base_s=0.0, cap_s=0.0), sleep=waits.append)
    # No replica of the type: select answers 503 with Retry-After; the client waits that long
    # between its three attempts, then gives up with the problem.
    with pytest.raises(ApiError) as busy:
        client.select("prediction", "low", incident_id="inc-busy")
    assert busy.value.status == 503
    assert len(waits) == 2 and all(w >= 1 for w in waits), waits
    waits.clear()
    with pytest.raises(ApiError) as refused:
        client.heartbeat("detection", "bad id!", "us-east-1", load=0, capacity=1)
    assert refused.value.status == 400 and "replica_id" in refused.value.problem["detail"]
    assert waits == [], "a refusal is not retried"


def test_a_drained_replica_gets_no_new_selections(server):
    client = fast(server.url)
    client.heartbeat("diagnosis", "dia-a", "us-east-1", load=0, capacity=5)
    client.heartbeat("diagnosis", "dia-b", "us-east-1", load=0, capacity=5)
    assert client.drain("diagnosis", "us-east-1", "dia-a")["draining"] is True
    picked = {client.select("diagnosis", "medium")["replica_id"] for _ in range(4)}
    assert picked == {"dia-b"}
    client.deregister("diagnosis", "us-east-1", "dia-a")
    assert set(replicas(client, "diagnosis")) == {"dia-b"}


def test_model_selection_and_report(server):
    client = fast(server.url)
    chosen = client.select_model("resolution", "critical")
    assert chosen["model"] and isinstance(chosen["fallbacks"], list)
    failed = client.report_model(chosen["model"], ok=False)
    assert failed["model"] == chosen["model"] and failed["health"]["consecutive_failures"] == 1
    recovered = client.report_model(chosen["model"], ok=True)
    assert recovered["health"]["consecutive_failures"] == 0


def test_warm_pings_are_answered_without_the_handler():
    calls = []

    @answers_warm_pings
    def handler(event, context):
        calls.append(event)
        return {"handled": event["incident"]}

    started = time.monotonic()
    first = handler({"warmer": {"correlation_id": "c-1", "concurrency": 2, "hold_ms": 50}}, None)
    held_s = time.monotonic() - started
    assert first["warm"] is True and first["cold_start"] is True and first["correlation_id"] == "c-1"
    assert held_s >= 0.05, "the ping holds its container"
    second = handler({"warmer": {"correlation_id": "c-2"}}, None)
    assert second["cold_start"] is False and second["container_id"] == first["container_id"]
    assert calls == []
    # Anything else, including an event that merely has a "warmer" key beside others, is work.
    assert handler({"incident": "inc-1"}, None) == {"handled": "inc-1"}
    assert handler({"warmer": {}, "incident": "inc-2"}, None) == {"handled": "inc-2"}
    assert len(calls) == 2


def test_requests_to_a_deployed_api_are_signed(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    seen = {}
    client = Client("https://abc123.execute-api.eu-west-1.amazonaws.com/", retry=RetryPolicy(attempts=1))

    def capture(request, timeout):
        seen.update(request.headers)
        raise OSError("not sent in this test")

    monkeypatch.setattr("urllib.request.urlopen", capture)
    with pytest.raises(OSError):
        client.status()
    authorization = seen.get("Authorization", "")
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), seen
    assert "/eu-west-1/execute-api/aws4_request" in authorization


def test_a_loopback_api_is_not_signed():
    assert Client("http://127.0.0.1:3000").signs is False
    with pytest.raises(ValueError):
        Client("ftp://example.com/")


def test_calls_fail_over_to_the_next_endpoint_and_back_after_a_health_check(server, second_server):
    client = Client(
        [server.url, second_server.url], retry=RetryPolicy(attempts=4, base_s=0.02, cap_s=0.1), recheck_s=0.3
    )
    client.heartbeat("detection", "det-home", "us-east-1", load=1, capacity=20)
    assert client.endpoint == server.url
    assert set(replicas(fast(server.url), "detection")) == {"det-home"}

    server.stop()
    client.heartbeat("detection", "det-failover", "us-east-1", load=1, capacity=20)
    assert client.endpoint == second_server.url, "the home endpoint is passed over"
    assert set(replicas(fast(second_server.url), "detection")) == {"det-failover"}

    server.start()  # back, with an empty store
    time.sleep(0.35)
    client.heartbeat("detection", "det-back", "us-east-1", load=1, capacity=20)
    assert client.endpoint == server.url, "its health check passed: calls return to it"
    assert set(replicas(fast(server.url), "detection")) == {"det-back"}

    with pytest.raises(ValueError):
        Client([])
