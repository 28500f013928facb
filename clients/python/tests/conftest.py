"""`commander serve` for the client's tests: a real process on a loopback port, restartable."""

import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary: str):
        self.binary = binary
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COMMANDER_")}
        self.process = subprocess.Popen(
            [self.binary, "serve", "--memory", "--addr", f"127.0.0.1:{self.port}", "--tick-seconds", "0",
             "--sweep-every-minutes", "0"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1)
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("commander serve exited")
                time.sleep(0.05)
        raise RuntimeError("commander serve did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=10)
        self.process = None


def _binary() -> str:
    binary = os.environ.get("COMMANDER_BIN", str(ROOT / "target" / "debug" / "commander"))
    if not os.path.exists(binary):
        pytest.fail(f"{binary} is missing: cargo build -p local --bin commander (or set COMMANDER_BIN)")
    return binary


@pytest.fixture
def server():
    s = Server(_binary())
    s.start()
    yield s
    s.stop()


@pytest.fixture
def second_server():
    """Another API, as a control plane's standby region would have."""
    s = Server(_binary())
    s.start()
    yield s
    s.stop()
