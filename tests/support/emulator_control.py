"""The emulator's control endpoints (`/_emulator/...`), driven over HTTP like any client would.

The emulator itself runs in the test process (``Emulator.start()``, the fixtures of conftest.py) or
as a subprocess with its own GIL (:func:`subprocess_emulator`, what the benchmarks use, so that the
emulator's work does not compete with the process that measures); either is driven through
:class:`EmulatorControl`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import requests


class EmulatorControl:
    """Out-of-band changes, fault injection and the request log of a running emulator."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")
        self.session = requests.Session()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        resp = self.session.request(method, f"{self.url}/_emulator/{path}", json=body, timeout=30)
        if resp.status_code >= 400:
            raise requests.HTTPError(
                f"{method} /_emulator/{path}: {resp.status_code} {resp.text}", response=resp
            )
        return resp.json() if resp.content else None

    def reset(self) -> None:
        """Back to the seed: no connections made since, faults off, log empty."""
        self._call("POST", "reset")

    def requests(self) -> list[dict[str, Any]]:
        """The API request log (method, path, query, status, fault...)."""
        return self._call("GET", "requests")  # type: ignore[no-any-return]

    def clear_requests(self) -> None:
        """Empty the request log."""
        self._call("DELETE", "requests")

    def mutating_requests(self) -> list[dict[str, Any]]:
        """Logged POST/PATCH/DELETE calls to the API."""
        return [r for r in self.requests() if r["method"] in ("POST", "PATCH", "DELETE")]

    def faults(self, **config: Any) -> None:
        """Set fault injection (no arguments: off)."""
        self._call("POST", "faults", config)

    def latency(self, ms: float) -> None:
        """Add `ms` to every API answer."""
        self._call("POST", "latency", {"ms": ms})

    def rate_limit(self, limit: int | None = None, period: float | None = None) -> None:
        """Limit the API to `limit` requests per `period` seconds (no arguments: default)."""
        self._call("POST", "rate_limit", {} if limit is None else {"limit": limit, "period": period})

    def connections(self) -> list[dict[str, Any]]:
        """Every connection in the account, as JSON:API resources."""
        return self._call("GET", "connections")["data"]  # type: ignore[no-any-return]

    def pairs(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """Every connection as (source org id, sink org id, sorted types), sorted."""
        return sorted(
            (
                c["relationships"]["source_org"]["data"]["id"],
                c["relationships"]["sink_org"]["data"]["id"],
                tuple(sorted(c["attributes"]["connection_types"])),
            )
            for c in self.connections()
        )

    def create(
        self, source: str, sink: str, types: list[str], created_by: str | None = None
    ) -> dict[str, Any]:
        """Make a connection out of band (as someone clicking in the UI would), by the source org's
        first user or by ``created_by`` (a user's name or id)."""
        body: dict[str, Any] = {"source": source, "sink": sink, "connection_types": types}
        if created_by is not None:
            body["created_by"] = created_by
        return self._call("POST", "connections", body)["data"]  # type: ignore[no-any-return]

    def patch(self, conn_id: str, types: list[str]) -> None:
        """Change a connection's types out of band."""
        self._call("PATCH", f"connections/{conn_id}", {"connection_types": types})

    def delete(self, conn_id: str) -> None:
        """Delete a connection out of band."""
        self._call("DELETE", f"connections/{conn_id}")

    def deactivate(self, user: str) -> list[str]:
        """Deactivate a user (id or name), as an admin would in Datadog: its application keys stop
        working (403) and every connection it created is deleted. Returns the deleted ids.
        ``reset()`` makes every user active again."""
        answer = self._call("POST", f"users/{quote(user, safe='')}/deactivate")
        return [c["id"] for c in answer["deleted_connections"]]

    def state(self) -> dict[str, Any]:
        """The accounts, orgs, users and connections, as ``GET /_emulator/state`` answers."""
        return self._call("GET", "state")  # type: ignore[no-any-return]

    def users(self) -> dict[str, bool]:
        """Every user of the seed by name, and whether it is active."""
        state = self.state()
        return {u["name"]: u["active"] for a in state["accounts"] for o in a["orgs"] for u in o["users"]}


@contextmanager
def subprocess_emulator(
    seed: str | Path | None = None, log: Path | None = None, pythonpath: str | None = None
) -> Iterator[EmulatorControl]:
    """``python -m datadog_org_connections.emulator --port 0 --quiet`` serving ``seed``, stderr to
    ``log``; yields its control once it prints ``listening on URL``, stops it (SIGTERM) at the end.
    ``pythonpath``: import the emulator from there (another checkout's ``provider/``) instead."""
    args = ["--seed", str(seed)] if seed is not None else []
    env = dict(os.environ, PYTHONPATH=pythonpath) if pythonpath else None
    with open(log or "/dev/null", "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "datadog_org_connections.emulator", "--port", "0", "--quiet", *args],
            stdout=subprocess.PIPE, stderr=stderr, text=True, env=env,
        )  # fmt: skip
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            if not line.startswith("listening on "):
                raise RuntimeError(f"emulator did not start: {line!r} (see {log})")
            yield EmulatorControl(line.split("listening on ", 1)[1])
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
