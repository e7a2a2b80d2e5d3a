"""How the provider process finds the engine to warn through (diagnostics.py): the argument shapes
the engine starts plugins with (`plugin.go`: `[--logtostderr] [-v=N] [--tracing URL] <engine address>`),
passed on unchanged by upstream's launcher (`python -u -m pulumi.dynamic $@`) and ours."""

from __future__ import annotations

import pytest

from datadog_org_connections.diagnostics import engine_address


@pytest.mark.parametrize(
    ("argv", "address"),
    [
        (["127.0.0.1:40123"], "127.0.0.1:40123"),
        (["--logtostderr", "-v=9", "127.0.0.1:40123"], "127.0.0.1:40123"),
        (["--tracing", "http://127.0.0.1:9411/api/v1/spans", "127.0.0.1:40123"], "127.0.0.1:40123"),
        (["--logtostderr", "-v=9", "--tracing", "file:/tmp/t.json", "[::1]:40123"], "[::1]:40123"),
        ([], None),  # started without an engine (a host of our tests, a developer's shell)
        (["--logtostderr"], None),
        (["--tracing", "http://127.0.0.1:9411"], None),  # a flag's value is not the address
        (["not-an-address"], None),
    ],
)
def test_the_engine_address_is_the_last_plain_argument(argv: list[str], address: str | None) -> None:
    assert engine_address(argv) == address
