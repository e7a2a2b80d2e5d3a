"""The documented GitHub Actions workflow (docs/examples/github-actions/org-connections.yml), run.

Every `run:` step of the workflow runs in order, job by job, in bash (tests/support/github_actions.py:
the jobs an event selects through their `if:`, the env the workflow declares, `$GITHUB_PATH`,
`$GITHUB_STEP_SUMMARY`), with the real CLI, against the emulator and a PostgreSQL backend
(tests/conftest.py), each job on a fresh "runner": a PULUMI_HOME of its own and a fresh copy of
the repository. A step that fails fails the test, so the documentation cannot rot.

The repository is what docs/ci.md tells a user to commit: the README's project (Pulumi.yaml,
`__main__.py`, requirements.txt: its marked blocks), the stack made by docs/ci.md's setup block
(run as written: `pulumi login`, `stack init`, `config set`), the policy pack config of docs/ci.md,
and the workflow itself.

What stands in for GitHub:

- **secrets** -> the default seed's keys: `DD_API_KEY` spoke-eu's API key, `DD_READ_ONLY_APP_KEY`
  its `ci-reader` (org_connections_read only), `DD_SERVICE_ACCOUNT_APP_KEY` its service account
  (`connections-bot`); `PULUMI_BACKEND_URL` the test's postgres:// backend;
  `PULUMI_CONFIG_PASSPHRASE` a test passphrase. A secret the test does not map fails it.
- **`DD_SITE`** stays as written, and `DD_HOST` (which wins over it) points at the emulator: a
  loopback URL cannot be a Datadog site (the README test's rule, tests/support/doc_blocks.py).
- **`uses:` steps** are not run: `actions/checkout` is the test's copy of the repository (with
  `repository: <owner>/<repo>`, this checkout, for the policy pack); `actions/setup-python` and
  `pulumi/actions` (install only, at our CLI's version) are the test's virtualenv and CLI on PATH.
  Any other action fails the test.
- **the install step** (`id: install`) is checked (a venv named as Pulumi.yaml says, the README's
  requirements.txt, pulumi-policy at the version pyproject.toml pins, venv/bin on `$GITHUB_PATH`)
  and replaced by a link to the test's virtualenv: installing from PyPI and git is what
  tests/packaging/test_install_from_readme.py proves.

The events: a pull request (the preview job alone: green with read-only keys, warning that `up`
would be refused, the policy pack run, nothing sent), a push to main (first with a person's key:
the whoami step stops the job before anything is sent; then the service account's: `pulumi up`
creates the connection), the schedule twice (in sync: exit 0; after changes made by hand in the
emulator: exit 6, the job fails, the report names them). And a push whose Deploy step is cancelled
the way GitHub cancels one, while its create is in flight.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from support.doc_blocks import REPO_ROOT, doc_block, fill
from support.emulator_control import EmulatorControl
from support.github_actions import Cancel, JobResult, jobs_for, load_workflow, run_job
from support.postgres import PostgresCluster
from support.pulumi_cli import PulumiCLI, find_pulumi
from support.seed import ALL_KEYS, HUB, SPOKE_EU, SPOKE_EU_READER_APP_KEY, SPOKE_US, USERS, service_account_of

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(find_pulumi() is None, reason="no pulumi CLI: run scripts/install-pulumi"),
]

WORKFLOW = REPO_ROOT / "docs" / "examples" / "github-actions" / "org-connections.yml"
CI_DOC = "docs/ci.md"
CONNECTION = "pulumi-python:dynamic/datadog:OrgConnection"
STATE, LOCKS = "/.pulumi/stacks/datadog-connections/spoke-eu.json", "/.pulumi/locks/"
PASSPHRASE = "the team's passphrase, a GitHub secret"
REPOSITORY = {"repository": "acme/datadog-connections"}
PULL_REQUEST = {**REPOSITORY, "event_name": "pull_request", "ref": "refs/pull/7/merge"}
PUSH_MAIN = {**REPOSITORY, "event_name": "push", "ref": "refs/heads/main"}
SCHEDULE = {**REPOSITORY, "event_name": "schedule", "ref": "refs/heads/main"}
BOT = service_account_of(SPOKE_EU)
PERSON_WRITER = USERS["engineer@spoke-eu.acme.test"]  # may write, but a person
SECRETS = {  # GitHub secrets -> test values (the backend's URL is each test's own)
    "PULUMI_BACKEND_URL": "",
    "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
    "DD_API_KEY": SPOKE_EU.api_key,
    "DD_READ_ONLY_APP_KEY": SPOKE_EU_READER_APP_KEY,
    "DD_SERVICE_ACCOUNT_APP_KEY": BOT.app_key,
}


def _pinned(package: str) -> str:
    """The `package==X` pin of pyproject.toml's dev extra."""
    match = re.search(rf'"({re.escape(package)}==[^"]+)"', (REPO_ROOT / "pyproject.toml").read_text())
    assert match is not None, f"pyproject.toml pins no {package}"
    return match.group(1)


@functools.cache
def _pulumi_version() -> str:
    """The version of the CLI the tests run (`pulumi version`, without its `v`)."""
    out = subprocess.run([find_pulumi() or "pulumi", "version"], capture_output=True, text=True, check=True)
    return out.stdout.strip().removeprefix("v")


def _uses(step: Mapping[str, Any], workspace: Path) -> None:
    """What the test did instead of each action."""
    action, _, _version = str(step["uses"]).partition("@")
    given = dict(step.get("with") or {})
    if action == "actions/checkout" and not given:
        return  # the caller copied the repository into the workspace
    if action == "actions/checkout":
        assert given.pop("repository") == "<owner>/<repo>" and given.pop("ref") == "<tag>", step
        (workspace / given.pop("path")).symlink_to(REPO_ROOT)  # this checkout, at the tag the project pins
    elif action == "actions/setup-python":
        assert given.pop("python-version")  # the test's own Python stands in
    elif action == "pulumi/actions":
        assert given.pop("pulumi-version") == _pulumi_version(), (
            "the workflow pins another CLI than the tested one"
        )
    else:
        raise AssertionError(f"the test does not know the action {step['uses']}: map it in _uses")
    assert not given, f"{step['uses']}: inputs the test does not map: {given}"


def _install(step: Mapping[str, Any]) -> str | None:
    """The install step is checked, then the test's virtualenv stands in for the project's."""
    if step.get("id") != "install":
        return None
    script = str(step["run"])
    for part in (
        "python -m venv venv",
        f"venv/bin/pip install -r requirements.txt {_pinned('pulumi-policy')}",
        'echo "$PWD/venv/bin" >> "$GITHUB_PATH"',
    ):
        assert part in script, f"the install step changed ({part!r} is gone): update the test"
    return f'ln -s {sys.prefix} venv\necho "$PWD/venv/bin" >> "$GITHUB_PATH"\n'


class Repository:
    """The user's repository (as docs/ci.md tells them to commit it) and the runners that clone it."""

    def __init__(self, tmp: Path, backend_url: str, api_url: str) -> None:
        self.tmp, self.api_url, self.backend_url = tmp, api_url, backend_url
        self.dir = tmp / "repository"
        self.dir.mkdir()
        (self.dir / "Pulumi.yaml").write_text(doc_block("pulumi-yaml"))
        (self.dir / "__main__.py").write_text(doc_block("program"))
        (self.dir / "requirements.txt").write_text(
            fill(doc_block("git-requirements"), {"<owner>": "acme", "<repo>": "datadog-org-connections",
                                                 "<tag>": "v0.1.0"})
        )  # fmt: skip
        placeholders = {"<UUID of the sink org>": HUB.id, "<UUID of the stack's org>": SPOKE_EU.id}
        (self.dir / "policy-config.json").write_text(
            fill(doc_block("ci-policy-config", CI_DOC), placeholders)
        )
        json.loads((self.dir / "policy-config.json").read_text())
        (self.dir / ".github" / "workflows").mkdir(parents=True)
        shutil.copy(WORKFLOW, self.dir / ".github" / "workflows" / WORKFLOW.name)
        self.workflow = load_workflow(WORKFLOW)
        self.secrets = {**SECRETS, "PULUMI_BACKEND_URL": backend_url}
        self.runs = 0

    def setup(self) -> str:
        """docs/ci.md's one-time setup block, run as written from an admin's machine."""
        admin = PulumiCLI(self.tmp / "admin", extra_env={"PULUMI_CONFIG_PASSPHRASE": PASSPHRASE})
        env = {k: v for k, v in admin.env.items() if k != "PULUMI_BACKEND_URL"}  # the block logs in
        block = fill(
            doc_block("ci-setup", CI_DOC),
            {"<backend URL>": self.backend_url, "<UUID of the sink org>": HUB.id},
        )
        proc = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block], cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert proc.returncode == 0, f"docs/ci.md's setup block failed\n{proc.stdout}{proc.stderr}"
        return proc.stdout + proc.stderr

    def run(
        self,
        github: Mapping[str, Any],
        secrets: Mapping[str, str] | None = None,
        cancel: Cancel | None = None,
    ) -> JobResult:
        """The one job `github`'s event selects, on a fresh runner with a fresh clone."""
        (job,) = jobs_for(self.workflow, github)
        self.runs += 1
        root = self.tmp / f"runner-{self.runs}-{job}"
        workspace = root / "work" / "repository"
        shutil.copytree(self.dir, workspace)  # actions/checkout
        env = {
            k: v
            for k, v in PulumiCLI(root / "pulumi").env.items()
            if k not in ("PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE")  # the workflow gives them
        }
        env["DD_HOST"] = self.api_url  # stands in for DD_SITE (and wins over it)
        result = run_job(
            self.workflow, job, github=github, secrets={**self.secrets, **(secrets or {})},
            workspace=workspace, base_env=env, uses=_uses, stand_in=_install, cancel=cancel,
        )  # fmt: skip
        printed = "".join(s.output for s in result.steps) + result.summary
        assert not [k for k in ALL_KEYS if k in printed], f"a key was printed by job {job}"
        return result


def _ok(result: JobResult) -> JobResult:
    failed = result.failed
    assert failed is None, f"job {result.name}: step {failed.name!r} exited {failed.code}\n{failed.output}"
    return result


def test_events_select_their_job_and_two_jobs_of_the_stack_never_run_at_once() -> None:
    workflow = load_workflow(WORKFLOW)
    assert set(workflow["on"]) == {"pull_request", "push", "schedule", "workflow_dispatch"}
    assert jobs_for(workflow, PULL_REQUEST) == ["preview"]
    assert jobs_for(workflow, PUSH_MAIN) == ["up"]
    assert jobs_for(workflow, {**PUSH_MAIN, "ref": "refs/heads/feature"}) == []
    assert jobs_for(workflow, SCHEDULE) == ["drift"]
    assert jobs_for(workflow, {**SCHEDULE, "event_name": "workflow_dispatch"}) == ["drift"]
    jobs = workflow["jobs"]
    stack = workflow["env"]["STACK"]
    # `up` and the drift check share one group, per stack, and never cancel a running job; the
    # preview (no lock, writes nothing) has a group per pull request, and may be cancelled.
    assert (
        jobs["up"]["concurrency"]
        == jobs["drift"]["concurrency"]
        == {
            "group": f"org-connections-{stack}",
            "cancel-in-progress": False,
        }
    )
    assert jobs["preview"]["concurrency"]["group"] != jobs["up"]["concurrency"]["group"]
    assert jobs["preview"]["concurrency"]["cancel-in-progress"] is True
    # The service account's key is given only to jobs of a protected environment.
    for name, job in jobs.items():
        writes = "DD_SERVICE_ACCOUNT_APP_KEY" in str(job.get("env"))
        assert writes == (name in ("up", "drift")) and writes == ("environment" in job), name
    # The secrets the workflow reads are those docs/ci.md tells to set, and those the test maps.
    used = set(re.findall(r"\$\{\{\s*secrets\.(\w+)\s*\}\}", WORKFLOW.read_text()))
    documented = set(re.findall(r"^gh secret set (\w+)", (REPO_ROOT / CI_DOC).read_text(), re.M))
    assert used == documented == set(SECRETS), (used, documented)
    # Every script parses, those of steps no event here reaches (`if: cancelled()`) too.
    for job in jobs.values():
        for step in job["steps"]:
            if "run" in step:
                check = subprocess.run(["bash", "-n"], input=step["run"], capture_output=True, text=True)
                assert check.returncode == 0, f"{step.get('name')}: {check.stderr}"


@pytest.fixture
def jq() -> None:
    """The `up` job's whoami step reads JSON with jq (on GitHub's runners): skipped without it,
    except in CI (`CI=true`), where .ci/run installs it."""
    if shutil.which("jq") is None:
        reason = "jq is not installed (the workflow's whoami step uses it): apt-get install jq"
        if os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@pytest.mark.usefixtures("jq")
def test_the_workflow_runs_preview_up_and_the_drift_check(
    tmp_path: Path, postgres_backend: str, emulator: EmulatorControl
) -> None:
    repo = Repository(tmp_path, postgres_backend, emulator.url)
    repo.setup()
    config = (repo.dir / "Pulumi.spoke-eu.yaml").read_text()
    assert "encryptionsalt:" in config and HUB.id in config and "datadog:" not in config

    # A pull request: a green preview with read-only keys, which says `up` would be refused.
    preview = _ok(repo.run(PULL_REQUEST))
    whoami = preview.step("Whose keys").output
    assert "ci-reader@spoke-eu.acme.test" in whoami and "org_connections_write: no" in whoami
    out = preview.step("Preview, with the policy pack").output
    assert "::pulumi-python:dynamic/datadog:OrgConnection::to-hub]" in out and "+ 2 to create" in out, out
    assert "`pulumi up` would be refused" in out and "ci-reader@spoke-eu.acme.test" in out, out
    assert re.search(
        r"Policy Packs run:\n.*\n\s+org-connections\|local\|\.org-connections/policies/org-connections ", out
    ), "the policy pack did not run"
    assert emulator.mutating_requests() == []

    # main, with a person's key by mistake: the job stops at whoami, before pulumi runs.
    wrong = repo.run(PUSH_MAIN, {"DD_SERVICE_ACCOUNT_APP_KEY": PERSON_WRITER.app_key})
    assert wrong.status == "failure" and wrong.failed is not None
    assert wrong.failed.name.startswith("Whose keys") and "::error::" in wrong.failed.output
    assert not wrong.step("Deploy").ran and not wrong.step("After a cancelled run").ran
    assert wrong.step("Install the project's packages").stood_in
    assert emulator.mutating_requests() == []

    # main: `pulumi up` with the service account's keys makes the connection.
    up = _ok(repo.run(PUSH_MAIN))
    assert "service account" in up.step("Whose keys (a service account that may write, or stop here)").output
    assert not up.step("After a cancelled run").ran
    (made,) = emulator.connections()
    assert emulator.pairs() == [(SPOKE_EU.id, HUB.id, ("logs", "metrics"))]
    assert made["relationships"]["created_by"]["data"]["id"] == BOT.id

    # The schedule: in sync.
    in_sync = _ok(repo.run(SCHEDULE))
    report = json.loads(_report(in_sync))
    assert report["status"] == "in_sync" and report["stacks"][0]["connections"] == 1
    assert in_sync.summary == ""

    # Changed by hand: the types of the stack's connection, and a connection no stack holds.
    emulator.patch(made["id"], ["logs"])
    orphan = emulator.create(SPOKE_EU.id, SPOKE_US.id, ["metrics"], created_by=BOT.name)
    drift = repo.run(SCHEDULE)
    assert drift.status == "failure" and drift.failed is not None and drift.failed.code == 6
    report = json.loads(_report(drift))
    assert report["status"] == "drift"
    assert [d["id"] for d in report["type_differences"]] == [made["id"]]
    assert [o["id"] for o in report["orphans"]] == [orphan["id"]]
    assert made["id"] in drift.summary and orphan["id"] in drift.summary and "exited 6" in drift.summary


def _report(result: JobResult) -> str:
    """The JSON report the drift step printed (`cat drift.json`), from its first `{` line on."""
    output = result.step("Compare the state with the API (exit 6 = drift, 7 = incomplete)").output
    start = output.index("{\n")
    return output[start : output.rindex("\n}") + 2]


@pytest.mark.usefixtures("jq")
def test_a_cancelled_up_job_records_its_create_and_the_next_push_has_nothing_to_repair(
    tmp_path: Path, postgres: PostgresCluster, postgres_backend: str, emulator: EmulatorControl
) -> None:
    """GitHub cancels a step with SIGINT to its shell, SIGTERM 7.5 s later, then kills its process
    tree. The Deploy step `exec`s pulumi, so the engine itself gets the SIGINT while its create is in
    flight: it cancels, the create finishes and is recorded, the stack's lock is released, the
    `if: cancelled()` step says what to do, and the next push's `up` has nothing to do."""
    repo = Repository(tmp_path, postgres_backend, emulator.url)
    repo.setup()
    emulator.latency(1000)  # each answer takes 1 s: the cancel lands while the POST is in flight

    def checkpoint() -> dict[str, Any]:
        (data,) = [v for k, v in postgres.read(postgres_backend, STATE).items() if k.endswith(STATE)]
        return json.loads(data)["checkpoint"]["latest"]  # type: ignore[no-any-return]

    def creating() -> bool:  # the engine records a create as pending before it calls the provider
        if not postgres.keys(postgres_backend, STATE):
            return False
        pending = checkpoint().get("pending_operations") or []
        return any(op["resource"]["type"] == CONNECTION for op in pending)  # not the default provider's

    cancelled = repo.run(PUSH_MAIN, cancel=Cancel("Deploy", creating))
    assert cancelled.status == "cancelled", [(s.name, s.code) for s in cancelled.steps]
    deploy = cancelled.step("Deploy").output
    assert "^C received; cancelling" in deploy and "pulumi-python:dynamic/datadog:OrgConnection" in deploy, (
        deploy
    )
    after = cancelled.step("After a cancelled run").output
    assert "::warning::" in after and "in sync" in after, after
    assert cancelled.orphans == [], "pulumi or a plugin outlived the cancelled step"
    assert postgres.keys(postgres_backend, LOCKS) == [], "the cancelled run left the stack locked"
    (made,) = emulator.connections()
    deployment = checkpoint()
    assert [r["id"] for r in deployment["resources"] if r["type"] == CONNECTION] == [made["id"]]
    assert not deployment.get("pending_operations"), "the create was left pending"

    emulator.latency(0)
    emulator.clear_requests()
    _ok(repo.run(PUSH_MAIN))
    assert emulator.mutating_requests() == [] and [c["id"] for c in emulator.connections()] == [made["id"]]
