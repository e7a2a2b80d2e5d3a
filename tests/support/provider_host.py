"""Talking to a real dynamic-provider process (`python -m pulumi.dynamic`) over gRPC, as the engine does.

The properties go through Pulumi's own serialization both ways and the provider object through a
`dill` round trip, so what is tested here is what runs under `pulumi up`.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from typing import Any

import grpc
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from datadog_org_connections.provider import OrgConnectionProvider

PROVIDER_KEY = "__provider"


def _struct(props: dict[str, Any]) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


def _dict(struct: Any) -> dict[str, Any]:
    return dict(rpc.deserialize_properties(struct, True))


class ProviderError(Exception):
    """The provider answered a call with an error (the text the engine would show)."""


class ProviderHost:
    """A `python -m pulumi.dynamic` subprocess and a stub to call it."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.serialized = serialize_provider(OrgConnectionProvider())
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DATADOG_"))}
        self.journal_dir = tempfile.mkdtemp(prefix="ddoc-journal-")
        full_env["DDOC_JOURNAL_DIR"] = self.journal_dir
        full_env.update(env or {})
        self._env = full_env
        self._config: dict[str, str] | None = None
        self._start()

    def _start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "pulumi.dynamic", "127.0.0.1:1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self._env, text=True,
        )  # fmt: skip
        assert self.proc.stdout is not None
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            self.close()
            raise RuntimeError(f"provider host did not start: {port!r}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def close(self) -> None:
        """Stop the provider process."""
        if getattr(self, "channel", None) is not None:
            self.channel.close()
        self.proc.kill()
        self.proc.wait(timeout=10)

    def __enter__(self) -> ProviderHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _props(self, props: dict[str, Any]) -> Any:
        return _struct({**props, PROVIDER_KEY: self.serialized})

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=120)
        except grpc.RpcError as exc:
            raise ProviderError(exc.details()) from None

    def configure(self, config: dict[str, str]) -> None:
        """What the engine sends from the stack config (secrets already unwrapped)."""
        self._config = config
        self._call("Configure", provider_pb2.ConfigureRequest(args=_struct(config), acceptSecrets=True))

    def new_deployment(self) -> None:
        """Act as the next `pulumi` command: the engine starts one provider process per deployment.

        The process is replaced (same environment, journal directory and stack config), so what the
        provider learnt in the previous deployment (the connections it made) is forgotten.
        """
        self.close()
        self._start()
        if self._config is not None:
            self.configure(self._config)

    def check(
        self, olds: dict[str, Any], news: dict[str, Any]
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """Returns (inputs, [(property, reason)])."""
        resp = self._call("Check", provider_pb2.CheckRequest(olds=self._props(olds), news=self._props(news)))
        inputs = _dict(resp.inputs)
        inputs.pop(PROVIDER_KEY, None)
        return inputs, [(f.property, f.reason) for f in resp.failures]

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> Any:
        """The raw DiffResponse (changes, replaces, deleteBeforeReplace)."""
        return self._call(
            "Diff", provider_pb2.DiffRequest(id=id_, olds=self._props(olds), news=self._props(news))
        )

    def create(self, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Returns (id, outputs)."""
        resp = self._call("Create", provider_pb2.CreateRequest(properties=self._props(props)))
        outs = _dict(resp.properties)
        outs.pop(PROVIDER_KEY, None)
        return resp.id, outs

    def read(self, id_: str, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Returns (id, outputs); an empty id means the resource is gone."""
        resp = self._call("Read", provider_pb2.ReadRequest(id=id_, properties=self._props(props)))
        outs = _dict(resp.properties)
        outs.pop(PROVIDER_KEY, None)
        return resp.id, outs

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        """Returns the new outputs."""
        resp = self._call(
            "Update", provider_pb2.UpdateRequest(id=id_, olds=self._props(olds), news=self._props(news))
        )
        outs = _dict(resp.properties)
        outs.pop(PROVIDER_KEY, None)
        return outs

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Delete the resource."""
        self._call("Delete", provider_pb2.DeleteRequest(id=id_, properties=self._props(props)))
