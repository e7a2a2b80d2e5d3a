"""Fixtures for the client tests: a scripted local HTTP server and clients pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from client_payloads import API_KEY, APP_KEY

from datadog_org_connections.client import OrgConnectionsClient
from datadog_org_connections.settings import Credentials
from support.fake_server import FakeServer, SleepRecorder


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def make_client(server: FakeServer, sleeps: SleepRecorder) -> Iterator[Callable[..., OrgConnectionsClient]]:
    """Build clients against ``server`` with fast settings; all are closed after the test."""
    made: list[OrgConnectionsClient] = []

    def make(**kw: Any) -> OrgConnectionsClient:
        kw.setdefault("timeout", (2.0, 2.0))
        kw.setdefault("sleep", sleeps)
        client = OrgConnectionsClient(Credentials(API_KEY, APP_KEY, server.url), **kw)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., OrgConnectionsClient]) -> OrgConnectionsClient:
    return make_client()
