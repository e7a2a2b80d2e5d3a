"""The provider process under signals: graceful stops, and no process left behind.

The engine starts `pulumi-resource-pulumi-python` (our launcher, installed next to `pulumi`, running
tools/pulumi/pulumi_dynamic_host.py) in a process group of its own, and stops it at the end of every
command with SIGINT, then SIGKILL 5 s later. These tests start it the same way, without the engine.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.proto import provider_pb2_grpc

from datadog_org_connections.emulator import Emulator
from datadog_org_connections.provider import OrgConnectionProvider
from support.emulator_control import EmulatorControl
from support.provider_host import ProviderError, ProviderHost
from support.seed import HUB, SPOKE_EU

LAUNCHER = shutil.which("pulumi-resource-pulumi-python", path=os.path.dirname(sys.executable))

pytestmark = pytest.mark.skipif(LAUNCHER is None, reason="no launcher: run scripts/install-pulumi")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")


def _wait_for(predicate: Any, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _attach(port: str) -> ProviderHost:
    """A ProviderHost talking to a provider process started elsewhere (as the engine would)."""
    host = ProviderHost.__new__(ProviderHost)
    host.serialized = serialize_provider(OrgConnectionProvider())
    host.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    host.stub = provider_pb2_grpc.ResourceProviderStub(host.channel)
    return host


def _launch() -> subprocess.Popen[str]:
    assert LAUNCHER is not None
    return subprocess.Popen(
        [LAUNCHER, "127.0.0.1:1"], stdout=subprocess.PIPE, text=True, start_new_session=True
    )


def test_the_end_of_command_sigint_stops_an_idle_provider_at_once() -> None:
    """Else every command would wait the engine's 5 s before its SIGKILL."""
    proc = _launch()
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip().isdigit()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_lets_the_call_in_flight_finish(
    signum: int, shared_emulator: Emulator, emulator: EmulatorControl
) -> None:
    """A CI runner signalling every process of a job: the POST in flight still gets its answer to the engine."""
    proc = _launch()
    assert proc.stdout is not None
    host = _attach(proc.stdout.readline().strip())
    result: dict[str, Any] = {}
    try:
        host.configure(SPOKE_EU.config(shared_emulator.url))
        emulator.latency(1500)
        news = {"sink_org_id": HUB.id, "connection_types": ["logs"], "validate_sink": False}
        before = shared_emulator.server.open_connection_count  # the test's own keep-alive connections
        call = threading.Thread(target=lambda: result.update(created=host.create(news)))
        call.start()
        # The call is in the provider once the provider has opened its connection to the emulator.
        assert _wait_for(lambda: shared_emulator.server.open_connection_count > before)
        proc.send_signal(signum)
        call.join(timeout=60)
        conn_id, outs = result["created"]
        assert outs["sink_org_id"] == HUB.id and [c["id"] for c in emulator.connections()] == [conn_id]
        assert proc.wait(timeout=30) == 0
    finally:
        emulator.latency(0)
        host.channel.close()
        proc.kill()


PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.argv[1], "127.0.0.1:1"], stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), child.pid, flush=True)
time.sleep(3600)
"""


def test_the_provider_exits_when_the_engine_is_gone() -> None:
    """An engine killed hard (SIGKILL, an OOM kill) leaves no provider process behind."""
    assert LAUNCHER is not None
    engine = subprocess.Popen([sys.executable, "-c", PARENT, LAUNCHER], stdout=subprocess.PIPE, text=True)
    assert engine.stdout is not None
    port, pid = engine.stdout.readline().split()
    host = _attach(port)
    try:
        news = {"sink_org_id": HUB.id, "connection_types": ["logs"], "validate_sink": False}
        assert host.check({}, news)[1] == []
        assert _alive(int(pid))
        engine.kill()
        engine.wait(timeout=10)
        assert _wait_for(lambda: not _alive(int(pid))), "the provider outlived the engine"
    finally:
        host.channel.close()
        if _alive(int(pid)):
            os.kill(int(pid), signal.SIGKILL)


def test_an_error_still_reaches_the_engine(shared_emulator: Emulator, emulator: EmulatorControl) -> None:
    """The host is the SDK's: errors travel as before (one line)."""
    proc = _launch()
    assert proc.stdout is not None
    host = _attach(proc.stdout.readline().strip())
    try:
        host.configure(SPOKE_EU.config(shared_emulator.url))
        with pytest.raises(ProviderError) as err:
            host.create({"sink_org_id": SPOKE_EU.id, "connection_types": ["logs"]})
        assert err.value.args[0].strip().startswith("datadog_org_connections.advice.OrgConnectionError:")
    finally:
        host.channel.close()
        proc.kill()
