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
from collections.abc import Sequence
from typing import Any

import grpc
from pulumi.dynamic import ResourceProvider
from pulumi.dynamic.dynamic import serialize_provider
from pulumi.runtime import rpc
from pulumi.runtime.proto import provider_pb2, provider_pb2_grpc

from datadog_org_connections.provider import OrgConnectionProvider

PROVIDER_KEY = "__provider"


def to_struct(props: dict[str, Any]) -> Any:
    """``props`` as the engine sends them: a protobuf Struct made by Pulumi's own serialization."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(rpc.serialize_properties(props, {}))
    finally:
        loop.close()


def from_struct(struct: Any) -> dict[str, Any]:
    """A Struct the provider answered, back to a dict (secrets unwrapped)."""
    return dict(rpc.deserialize_properties(struct, True))


class ProviderError(Exception):
    """The provider answered a call with an error (the text the engine would show)."""


class ProviderHost:
    """A `python -m pulumi.dynamic` subprocess and a stub to call it.

    ``provider``: the provider object the engine would unpickle from the state (default: ours).
    ``pythonpath``: directories the provider process must import from (a provider defined outside
    the installed package, such as the benchmarks' no-op provider). The process gets a journal
    directory of its own (``journal_dir``, ``DDOC_JOURNAL_DIR``) and none of the caller's Datadog
    or Pulumi environment; its stderr goes to ``stderr_path``. ``engine``: the engine address the
    process is started with, as the engine starts plugins (a `FakeEngine`'s, to see the provider's
    warnings; default: an address where nothing listens).
    """

    def __init__(
        self,
        env: dict[str, str] | None = None,
        *,
        provider: ResourceProvider | None = None,
        pythonpath: Sequence[str] = (),
        engine: str = "127.0.0.1:1",
    ) -> None:
        self.engine = engine
        self.serialized = serialize_provider(provider if provider is not None else OrgConnectionProvider())
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DATADOG_", "PULUMI_"))}
        self.journal_dir = tempfile.mkdtemp(prefix="ddoc-journal-")
        self.stderr_path = os.path.join(self.journal_dir, "provider.stderr")
        full_env["DDOC_JOURNAL_DIR"] = self.journal_dir
        if pythonpath:
            full_env["PYTHONPATH"] = os.pathsep.join(
                [*pythonpath, *filter(None, [full_env.get("PYTHONPATH")])]
            )
        full_env.update(env or {})
        self._env = full_env
        self._config: dict[str, str] | None = None
        self._start()

    def _start(self) -> None:
        with open(self.stderr_path, "ab") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-u", "-m", "pulumi.dynamic", self.engine],
                stdout=subprocess.PIPE, stderr=stderr, env=self._env, text=True,
            )  # fmt: skip
        assert self.proc.stdout is not None
        port = self.proc.stdout.readline().strip()
        if not port.isdigit():
            self.close()
            with open(self.stderr_path, errors="replace") as f:
                raise RuntimeError(f"provider host did not start: {port!r}\n{f.read()[-4000:]}")
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.stub = provider_pb2_grpc.ResourceProviderStub(self.channel)

    def stderr(self) -> str:
        """What the provider process wrote to stderr so far."""
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

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

    def props(self, props: dict[str, Any]) -> Any:
        """``props`` plus the serialized provider, as a Struct: what every call carries."""
        return to_struct({**props, PROVIDER_KEY: self.serialized})

    def _call(self, method: str, request: Any) -> Any:
        try:
            return getattr(self.stub, method)(request, timeout=120)
        except grpc.RpcError as exc:
            raise ProviderError(exc.details()) from None

    def configure(self, config: dict[str, str]) -> None:
        """What the engine sends from the stack config (secrets already unwrapped)."""
        self._config = config
        self._call("Configure", provider_pb2.ConfigureRequest(args=to_struct(config), acceptSecrets=True))

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
        resp = self._call("Check", provider_pb2.CheckRequest(olds=self.props(olds), news=self.props(news)))
        inputs = from_struct(resp.inputs)
        inputs.pop(PROVIDER_KEY, None)
        return inputs, [(f.property, f.reason) for f in resp.failures]

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> Any:
        """The raw DiffResponse (changes, replaces, deleteBeforeReplace)."""
        return self._call(
            "Diff", provider_pb2.DiffRequest(id=id_, olds=self.props(olds), news=self.props(news))
        )

    def create(self, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Returns (id, outputs)."""
        resp = self._call("Create", provider_pb2.CreateRequest(properties=self.props(props)))
        outs = from_struct(resp.properties)
        outs.pop(PROVIDER_KEY, None)
        return resp.id, outs

    def read(self, id_: str, props: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """Returns (id, outputs); an empty id means the resource is gone."""
        found, outs, _inputs = self.read_with_inputs(id_, props)
        return found, outs

    def read_with_inputs(
        self, id_: str, props: dict[str, Any]
    ) -> tuple[str, dict[str, Any], dict[str, Any] | None]:
        """Returns (id, outputs, the inputs for later diffs or None when the provider returned none)."""
        resp = self._call("Read", provider_pb2.ReadRequest(id=id_, properties=self.props(props)))
        outs = from_struct(resp.properties)
        outs.pop(PROVIDER_KEY, None)
        inputs = from_struct(resp.inputs) if resp.HasField("inputs") else None
        if inputs is not None:
            inputs.pop(PROVIDER_KEY, None)
        return resp.id, outs, inputs

    def create_raw(self, props: dict[str, Any]) -> Any:
        """The raw CreateResponse (to see which outputs are stored as secrets)."""
        return self._call("Create", provider_pb2.CreateRequest(properties=self.props(props)))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> dict[str, Any]:
        """Returns the new outputs."""
        resp = self._call(
            "Update", provider_pb2.UpdateRequest(id=id_, olds=self.props(olds), news=self.props(news))
        )
        outs = from_struct(resp.properties)
        outs.pop(PROVIDER_KEY, None)
        return outs

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        """Delete the resource."""
        self._call("Delete", provider_pb2.DeleteRequest(id=id_, properties=self.props(props)))
