"""Fixtures for the third-party client tests: a fresh omsd-sim process per test module.

The simulator listens on an OS-chosen loopback port (`--listen 127.0.0.1:0`) and announces
its endpoints on stdout as `rest=...`, `stream=...` and `ws-api=...`; the fixture waits for
those three lines, hands them to the tests and stops the process with SIGTERM afterwards.
The binary is `$OMSD_SIM_BIN`, else `target/debug/omsd-sim` under the repository root.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from support import SYMBOL, Deadline, Sim, poll, rest_get

REPO_ROOT = Path(__file__).resolve().parents[4]
DEMO_API_KEY = "omsd-sim-demo-key"
DEMO_API_SECRET = "omsd-sim-demo-secret"
SIM_SEED = 7
# The demo account's Ed25519 key (a fixed test key; the simulator gets its public half).
ED25519_API_KEY = "omsd-sim-demo-ed25519-key"
ED25519_PRIVATE_KEY = Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32)
ED25519_PRIVATE_PEM = ED25519_PRIVATE_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
ED25519_PUBLIC_PEM = ED25519_PRIVATE_KEY.public_key().public_bytes(
    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
).decode()
STARTUP_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
LOG_TAIL_LINES = 40


def sim_binary() -> Path:
    configured = os.environ.get("OMSD_SIM_BIN")
    binary = Path(configured) if configured else REPO_ROOT / "target/debug/omsd-sim"
    if not binary.is_file():
        pytest.exit(f"omsd-sim not found at {binary}: build it or set OMSD_SIM_BIN", 2)
    return binary


def parse_endpoints(stdout: str) -> dict[str, str] | None:
    """The `key=value` announcement lines, once all three are complete."""
    complete_lines = stdout[: stdout.rfind("\n") + 1].splitlines()
    endpoints = dict(line.split("=", 1) for line in complete_lines if "=" in line)
    return endpoints if {"rest", "stream", "ws-api"} <= endpoints.keys() else None


def log_tail(log: Path) -> str:
    lines = log.read_text(errors="replace").splitlines()
    return "\n".join(lines[-LOG_TAIL_LINES:])


def wait_for_endpoints(process: subprocess.Popen[bytes], stdout: Path, log: Path) -> dict[str, str]:
    def announced() -> dict[str, str] | None:
        if process.poll() is not None:
            raise RuntimeError(f"omsd-sim exited with {process.returncode}:\n{log_tail(log)}")
        return parse_endpoints(stdout.read_text())

    endpoints = poll(announced, Deadline(STARTUP_TIMEOUT_S), interval_s=0.05)
    if endpoints is None:
        raise RuntimeError(f"omsd-sim did not announce its endpoints:\n{log_tail(log)}")
    return endpoints


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM and wait; a simulator that ignores SIGTERM is killed and reported."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise RuntimeError(f"omsd-sim did not stop within {STOP_TIMEOUT_S}s of SIGTERM") from None


def wait_for_first_trade(rest_url: str, log: Path) -> None:
    """Waits until the synthetic market has traded: its takers come in bursts, so the first
    trade may follow start-up by a few seconds, and the ticker tests need one."""
    traded = poll(lambda: rest_get(rest_url, "/api/v3/trades", symbol=SYMBOL, limit=1) or None,
                  Deadline(STARTUP_TIMEOUT_S))
    if traded is None:
        pytest.fail(f"the simulator's market did not trade within {STARTUP_TIMEOUT_S} s\n{log_tail(log)}")


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sim]:
    workdir = tmp_path_factory.mktemp("omsd-sim")
    stdout, log = workdir / "stdout", workdir / "stderr"
    env = {
        **os.environ,
        "OMSD_SIM_API_KEY": DEMO_API_KEY,
        "OMSD_SIM_API_SECRET": DEMO_API_SECRET,
        "OMSD_SIM_ED25519_PUBLIC_KEY": ED25519_PUBLIC_PEM,
        "NO_COLOR": "1",  # plain log lines in failure reports
    }
    command = [str(sim_binary()), "--listen", "127.0.0.1:0", "--seed", str(SIM_SEED)]
    with stdout.open("wb") as out, log.open("wb") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
    try:
        endpoints = wait_for_endpoints(process, stdout, log)
        wait_for_first_trade(endpoints["rest"], log)
        yield Sim(
            rest=endpoints["rest"],
            stream=endpoints["stream"],
            ws_api=endpoints["ws-api"],
            api_key=DEMO_API_KEY,
            api_secret=DEMO_API_SECRET,
            log=log,
        )
    finally:
        stop(process)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the end of the simulator's log to every failed test."""
    report = yield
    running = getattr(item, "funcargs", {}).get("sim")
    if report.failed and isinstance(running, Sim) and running.log.exists():
        report.sections.append(("omsd-sim log (tail)", log_tail(running.log)))
    return report
