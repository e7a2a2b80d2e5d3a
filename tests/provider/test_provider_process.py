"""The provider process under interrupts: it outlives Ctrl-C (the engine cancels gracefully) but not the engine.

The engine starts `pulumi-resource-pulumi-python` (our launcher, installed next to `pulumi`); these
tests start it the same way, without the engine, and signal it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from datadog_org_connections.provider import OrgConnectionProvider
from support.provider_host import ProviderHost

LAUNCHER = shutil.which("pulumi-resource-pulumi-python", path=os.path.dirname(sys.executable))

pytestmark = pytest.mark.skipif(LAUNCHER is None, reason="no launcher: run scripts/install-pulumi")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return not Path(f"/proc/{pid}/stat").read_text().split(") ")[1].startswith("Z")


def _wait_gone(pid: int, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_ctrl_c_does_not_kill_the_provider() -> None:
    assert LAUNCHER is not None
    proc = subprocess.Popen([LAUNCHER, "127.0.0.1:1"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = proc.stdout.readline().strip()
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends to the whole process group
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            info = provider_pb2_grpc.ResourceProviderStub(channel).GetPluginInfo(
                provider_pb2.google_dot_protobuf_dot_empty__pb2.Empty(), timeout=30
            )
        assert info.version and proc.poll() is None
    finally:
        proc.kill()
        proc.wait(timeout=10)


PARENT = """
import subprocess, sys, time
child = subprocess.Popen([sys.argv[1], "127.0.0.1:1"], stdout=subprocess.PIPE, text=True)
print(child.stdout.readline().strip(), child.pid, flush=True)
time.sleep(3600)
"""


def test_the_provider_exits_when_the_engine_is_gone() -> None:
    """An engine killed hard (SIGKILL, a second Ctrl-C) leaves no provider process behind."""
    assert LAUNCHER is not None
    engine = subprocess.Popen([sys.executable, "-c", PARENT, LAUNCHER], stdout=subprocess.PIPE, text=True)
    assert engine.stdout is not None
    port, pid = engine.stdout.readline().split()
    host = ProviderHost.__new__(ProviderHost)  # talk to that process as the engine would
    host.serialized = serialize_provider(OrgConnectionProvider())
    host.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    host.stub = provider_pb2_grpc.ResourceProviderStub(host.channel)
    try:
        news = {"sink_org_id": "a1b10001-7f97-11f0-8de1-1ecf66f1aa85", "connection_types": ["logs"]}
        assert host.check({}, {**news, "validate_sink": False})[1] == []  # the provider is now configured
        assert _alive(int(pid))
        engine.kill()
        engine.wait(timeout=10)
        assert _wait_gone(int(pid)), "the provider outlived the engine"
    finally:
        host.channel.close()
        if _alive(int(pid)):
            os.kill(int(pid), signal.SIGKILL)
