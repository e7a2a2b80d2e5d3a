"""Errors are one line in `pulumi up` without a process-wide setting that outlives the failing call.

The provider host reports an error with `traceback.format_exc()`; the provider hides the traceback
for that one report only (issue 12: a `sys.tracebacklimit = 0` left behind made later code under
Pulumi's mocks hang in the same process).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import traceback

import pytest

from datadog_org_connections.advice import OrgConnectionError
from datadog_org_connections.provider import OrgConnectionProvider


def _host_report(call: object) -> str:
    """What the dynamic provider host sends the engine for a failed call."""
    try:
        call()  # type: ignore[operator]
    except Exception:
        return traceback.format_exc()
    raise AssertionError("the call did not fail")


def test_the_report_is_one_line_and_the_limit_is_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "DD_API_KEY",
        "DATADOG_API_KEY",
        "DD_APP_KEY",
        "DATADOG_APP_KEY",
        "DDOC_PROVIDER_TRACEBACKS",
    ):
        monkeypatch.delenv(name, raising=False)
    before = getattr(sys, "tracebacklimit", "unset")
    provider = OrgConnectionProvider()
    report = _host_report(lambda: provider.create({"sink_org_id": "a" * 8, "connection_types": ["logs"]}))
    assert report.strip().splitlines() == [report.strip()]
    assert report.startswith(
        "datadog_org_connections.advice.OrgConnectionError: create org connection failed"
    )
    assert "DD_API_KEY" in report
    assert getattr(sys, "tracebacklimit", "unset") == before
    # An error raised elsewhere afterwards keeps its whole traceback.
    assert "Traceback (most recent call last)" in _host_report(lambda: 1 / 0)


def test_a_bug_keeps_its_traceback_inside_the_message() -> None:
    provider = OrgConnectionProvider()
    report = _host_report(lambda: provider.read("x", None))  # type: ignore[arg-type]
    assert "a bug: please report it" in report and "Traceback" in report


MOCKS_AFTER_A_FAILED_CALL = """
import pulumi, traceback
from datadog_org_connections import OrgConnection
from datadog_org_connections.provider import OrgConnectionProvider
from pulumi.dynamic import ConfigureRequest

provider = OrgConnectionProvider()
provider.configure(ConfigureRequest(pulumi.Config("x")))
try:
    provider.create({"sink_org_id": "a1b10001-7f97-11f0-8de1-1ecf66f1aa85", "connection_types": ["logs"]})
except Exception:
    traceback.format_exc()

class Echo(pulumi.runtime.Mocks):
    def new_resource(self, args):
        return args.name + "-id", dict(args.inputs)
    def call(self, args):
        return {}, None

pulumi.runtime.set_mocks(Echo(), preview=False)

@pulumi.runtime.test
def build():
    conn = OrgConnection("c", sink_org_id="a1b10001-7f97-11f0-8de1-1ecf66f1aa85", connection_types=["logs"])
    return conn.id.apply(lambda i: print("built", i))

build()
"""


def test_resources_under_mocks_after_the_provider_failed_in_the_same_process() -> None:
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MOCKS_AFTER_A_FAILED_CALL)],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "built c-id" in proc.stdout


def test_org_connection_error_is_exported_from_the_provider_module() -> None:
    from datadog_org_connections import OrgConnectionError as exported

    assert exported is OrgConnectionError
