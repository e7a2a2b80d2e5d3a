"""The engine's `Engine` gRPC service as a provider process reaches it, recording what it is told.

The Pulumi engine starts each resource plugin with its own address as the last argument; a
provider's warnings reach the command's output through `Engine.Log` (see the package's
diagnostics.py). `ProviderHost(engine=FakeEngine().address)` starts the provider the same way.
"""

from __future__ import annotations

import threading
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import empty_pb2
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc


@dataclass(frozen=True)
class LogLine:
    """One `Engine.Log` request: severity name (``WARNING``...), message, URN."""

    severity: str
    message: str
    urn: str


class _Servicer(engine_pb2_grpc.EngineServicer):  # type: ignore[misc]
    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine

    def Log(self, request: Any, context: Any) -> Any:  # the gRPC method's name
        line = LogLine(engine_pb2.LogSeverity.Name(request.severity), request.message, request.urn)
        with self.engine.lock:
            self.engine.logs.append(line)
        return empty_pb2.Empty()


class FakeEngine:
    """A gRPC server on a loopback port serving `Engine.Log` (other methods: unimplemented)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.logs: list[LogLine] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        engine_pb2_grpc.add_EngineServicer_to_server(_Servicer(self), self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"
        self.server.start()

    def warnings(self) -> list[str]:
        """The messages logged with severity WARNING, in order."""
        with self.lock:
            return [line.message for line in self.logs if line.severity == "WARNING"]

    def clear(self) -> None:
        """Forget what was logged."""
        with self.lock:
            self.logs.clear()

    def close(self) -> None:
        """Stop the server."""
        self.server.stop(grace=None)

    def __enter__(self) -> FakeEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
