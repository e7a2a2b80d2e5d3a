"""Warnings the user sees in `pulumi preview` / `pulumi up` output, from inside the provider process.

A dynamic provider's methods return results or raise errors: the Python SDK gives them no way to
warn. The engine does: it starts every resource plugin with the address of its own gRPC server
(the `Engine` service) as the last command-line argument (`plugin.go`: `[--logtostderr] [-v=N]
[--tracing URL] <engine address>`), and both upstream's launcher (`python -u -m pulumi.dynamic
$@`) and ours (tools/pulumi, `"$@"`) pass it on, so the provider process finds it in `sys.argv`.
`Engine.Log` with severity WARNING puts the message among the command's diagnostics, where every
warning of a preview or an update is printed (`warning: ...`), as providers written in Go do
through their host client.

When there is no address (a provider host started otherwise) or the engine does not answer, the
warning goes to the process's stderr, which the engine shows as an info line of the same
diagnostics (a dynamic provider's stderr is not hidden): seen, if less prominent.

:func:`warn_once` says a thing once per process, i.e. once per command and deployment phase (the
engine starts one provider process for the preview and another for the update of `pulumi up`).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["engine_address", "warn", "warn_once"]

#: How long a Log call may take: the engine answers at once; a dead one must not hold a command.
LOG_TIMEOUT_SECONDS = 5.0

#: Flags the engine puts before the address; those taking a value take the next argument.
_FLAGS_WITH_VALUE = frozenset({"--tracing"})

_lock = threading.Lock()
_said: set[str] = set()
_engine: list[Any] = []  # [stub] once connected; [] before; [None] when there is no engine to reach


def engine_address(argv: Sequence[str] | None = None) -> str | None:
    """The engine's address among the process's arguments (``host:port``), or None."""
    args = list(sys.argv[1:] if argv is None else argv)
    found: str | None = None
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in _FLAGS_WITH_VALUE:
            skip = True
        elif not arg.startswith("-"):
            found = arg
    if found is None or ":" not in found:
        return None
    port = found.rsplit(":", 1)[1]
    return found if port.isdigit() else None


def _stub() -> Any:
    """The Engine service stub (made on first use), or None when no engine can be reached."""
    with _lock:
        if not _engine:
            address = engine_address()
            if address is None:
                _engine.append(None)
            else:
                import grpc
                from pulumi.runtime.proto import engine_pb2_grpc

                _engine.append(engine_pb2_grpc.EngineStub(grpc.insecure_channel(address)))
        return _engine[0]


def warn(message: str, urn: str = "") -> bool:
    """Show ``message`` as a warning of the running command (optionally on resource ``urn``).

    Returns whether the engine took it; if not, it was written to stderr instead.
    """
    stub = _stub()
    if stub is not None:
        try:
            from pulumi.runtime.proto import engine_pb2

            request = engine_pb2.LogRequest(severity=engine_pb2.WARNING, message=message, urn=urn)
            stub.Log(request, timeout=LOG_TIMEOUT_SECONDS)
            return True
        except Exception:  # any failure: fall back to stderr, never fail the step
            pass
    sys.stderr.write(f"warning: {message}\n")
    sys.stderr.flush()
    return False


def warn_once(key: str, message: str, urn: str = "") -> bool:
    """:func:`warn`, the first time ``key`` is said in this process; returns whether it was said now."""
    with _lock:
        if key in _said:
            return False
        _said.add(key)
    warn(message, urn)
    return True
