"""The Python dynamic-provider host our launcher runs: `python -m pulumi.dynamic`, stopping gracefully.

The engine starts each provider in a process group of its own (a terminal's Ctrl-C reaches only
`pulumi`, which cancels gracefully), and stops it at the end of every command with SIGINT, then
SIGKILL 5 s later. Upstream's host dies of SIGINT at once (KeyboardInterrupt), and of SIGTERM: a
CI runner or systemd signalling every process of a job would then lose the calls in flight, such
as a POST whose answer the engine never records.

Here SIGINT and SIGTERM make the gRPC server refuse new calls, let the calls in flight finish, and
exit: at once when idle (no 5 s wait at the end of a command), after the in-flight calls otherwise.
The host also exits when the engine that started it is gone (SIGKILL, OOM kill), instead of
lingering. `pulumi import` of a dynamic resource (whose read carries no serialized provider,
pulumi/pulumi#16175) gets one line saying what to do instead of the SDK's `KeyError: '__provider'`.
Everything else is the SDK's own `pulumi.dynamic`, run unchanged.
"""

from __future__ import annotations

import os
import runpy
import signal
import threading
import time
from typing import Any

import grpc

GRACE_SECONDS = 600.0  # how long a call in flight may take to finish once asked to stop

_servers: list[Any] = []
_make_server = grpc.server


def _remember(*args: Any, **kwargs: Any) -> Any:
    server = _make_server(*args, **kwargs)
    _servers.append(server)
    return server


def _drain_and_exit() -> None:
    for server in _servers:
        server.stop(grace=GRACE_SECONDS).wait()
    os._exit(0)


def _on_signal(_signum: int, _frame: Any) -> None:
    threading.Thread(target=_drain_and_exit, name="drain", daemon=True).start()


def _exit_with_the_engine(poll_seconds: float = 1.0) -> None:
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        _drain_and_exit()

    threading.Thread(target=watch, name="exit-with-the-engine", daemon=True).start()


PROVIDER_KEY = "__provider"

IMPORT_TEXT = (
    "pulumi import cannot import a Python dynamic resource: the engine's import read carries no "
    "serialized provider (pulumi/pulumi#16175). For an OrgConnection (datadog-org-connections), declare it "
    "in the program with adopt_id='<connection id>' (taken over at create, no POST), or read it without "
    "managing it with OrgConnection.get(name, '<connection id>')"
)


def _add_servicer(add: Any) -> Any:
    """Wrap the servicer's Read: an import read (no serialized provider) gets IMPORT_TEXT."""

    def add_servicer(servicer: Any, server: Any) -> Any:
        read = servicer.Read

        def Read(request: Any, context: Any) -> Any:
            if PROVIDER_KEY not in request.properties.fields and PROVIDER_KEY not in request.inputs.fields:
                context.abort(grpc.StatusCode.UNKNOWN, IMPORT_TEXT)
            return read(request, context)

        servicer.Read = Read
        return add(servicer, server)

    return add_servicer


def main() -> None:
    """Serve `pulumi.dynamic` with graceful stops."""
    from pulumi.runtime.proto import provider_pb2_grpc

    provider_pb2_grpc.add_ResourceProviderServicer_to_server = _add_servicer(
        provider_pb2_grpc.add_ResourceProviderServicer_to_server
    )
    grpc.server = _remember
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _on_signal)
    _exit_with_the_engine()
    runpy.run_module("pulumi.dynamic", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
