"""Running a GitHub Actions workflow's `run:` steps on this machine, as a runner would, for tests.

Not an Actions runner: enough of one to run a documented workflow's own shell steps, in order, job
by job, so that a test fails when the documentation's commands stop working.

- **Which jobs run** for an event: each job's `if:` is evaluated with the event's `github` context
  (:func:`evaluate`: the expression syntax of Actions, the part the workflow uses: contexts,
  string literals, `==`, `!=`, `&&`, `||`, `!`, parentheses, and the status functions
  `success()`, `failure()`, `always()`, `cancelled()`); an expression outside that part is an error,
  not a guess.
- **Environment**: the workflow's `env:`, then the job's, then the step's, each value's `${{ }}`
  expressions replaced (`secrets.X` from the test's mapping: a secret the test does not map is an
  error, where Actions would give an empty string); plus what earlier steps appended to
  `$GITHUB_PATH`, and `CI`, `GITHUB_ACTIONS`, `GITHUB_WORKSPACE`, `GITHUB_STEP_SUMMARY` as a
  runner sets them (`$GITHUB_ENV` and `$GITHUB_OUTPUT` are not offered: the workflow does not use them).
- **`run:` steps** run as `shell: bash` runs them (`bash --noprofile --norc -eo pipefail FILE`), in
  the job's workspace (or the step's `working-directory`), and must not contain `${{ }}` (values
  reach scripts through `env:`, GitHub's advice against script injection). Steps whose `if:` is
  false are skipped; a failing step makes the job fail and skips the next ones unless their `if:`
  says otherwise (`failure()`, `always()`).
- **`uses:` steps** (actions) are not run: the caller maps each to what the test did instead
  (``uses`` callback), and fails on an action it does not know.
- **Cancelling** (:class:`Cancel`): during a chosen step, as GitHub documents it: SIGINT to the
  step's entry process (its bash), SIGTERM 7.5 s later, the step's processes killed 2.5 s after
  that; then the job's `cancelled()` / `always()` steps run. Each step runs in a session of its own,
  and whatever a step leaves running is killed when the job ends (a runner's orphan cleanup) and
  listed in :attr:`JobResult.orphans`.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from support.interrupts import Proc, signal_all

__all__ = [
    "Cancel",
    "JobResult",
    "StepResult",
    "evaluate",
    "interpolate",
    "jobs_for",
    "load_workflow",
    "run_job",
    "session_processes",
]

Context = Mapping[str, Any]
#: A `uses:` step's mapping: (the step, the workspace) -> None; raise to refuse the action.
UsesHandler = Callable[[Mapping[str, Any], Path], None]


def load_workflow(path: Path) -> dict[str, Any]:
    """The workflow as a dict; its `on:` key under ``"on"`` (YAML 1.1 reads a bare `on` as ``True``)."""
    workflow: dict[Any, Any] = yaml.safe_load(path.read_text())
    if True in workflow:
        workflow["on"] = workflow.pop(True)
    return workflow


# --- expressions ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\))|(?P<name>[A-Za-z_][\w.-]*))"
)
_STATUS = ("success", "failure", "always", "cancelled")


class ExpressionError(ValueError):
    """An expression outside the supported part of the Actions syntax, or naming an unknown value."""


def _lookup(path: str, context: Context) -> Any:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ExpressionError(f"unknown value {path!r} (the test gives no {part!r})")
        value = value[part]
    return value


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()  # Actions compares strings ignoring case
    return bool(a == b)


class _Parser:
    """Recursive descent over the tokens: or -> and -> not -> comparison -> primary."""

    def __init__(self, text: str, context: Context) -> None:
        self.text, self.context = text, context
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text.rstrip()):
            match = _TOKEN.match(text, pos)
            if match is None or match.end() == pos:
                raise ExpressionError(f"unsupported expression syntax at {text[pos:]!r} in {text!r}")
            kind = match.lastgroup
            assert kind is not None
            self.tokens.append((kind, match.group(kind)))
            pos = match.end()
        self.pos = 0

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise ExpressionError(f"unexpected end of {self.text!r}")
        self.pos += 1
        return self.tokens[self.pos - 1]

    def parse(self) -> Any:
        value = self.any_of()
        if self.pos != len(self.tokens):
            raise ExpressionError(f"unexpected {self.peek()!r} in {self.text!r}")
        return value

    def any_of(self) -> Any:
        value = self.all_of()
        while self.peek() == "||":
            self.take()
            right = self.all_of()
            value = value or right
        return value

    def all_of(self) -> Any:
        value = self.negation()
        while self.peek() == "&&":
            self.take()
            right = self.negation()
            value = value and right
        return value

    def negation(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not self.negation()
        return self.comparison()

    def comparison(self) -> Any:
        value = self.primary()
        if self.peek() in ("==", "!="):
            op = self.take()[1]
            same = _equal(value, self.primary())
            return same if op == "==" else not same
        return value

    def primary(self) -> Any:
        kind, text = self.take()
        if text == "(":
            value = self.any_of()
            if self.take()[1] != ")":
                raise ExpressionError(f"missing ')' in {self.text!r}")
            return value
        if kind == "str":
            return text[1:-1].replace("''", "'")
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r} in {self.text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text in _STATUS and self.peek() == "(":
            self.take()
            if self.take()[1] != ")":
                raise ExpressionError(f"{text}() takes no argument, in {self.text!r}")
            return _lookup(f"_status.{text}", self.context)
        return _lookup(text, self.context)


def evaluate(expression: str, context: Context) -> Any:
    """The value of an Actions expression (with or without its `${{ }}`) in `context`."""
    text = expression.strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    return _Parser(text, context).parse()


def interpolate(value: Any, context: Context) -> str:
    """A workflow string with each `${{ expression }}` replaced by its value."""
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(evaluate(m.group(1), context)), str(value))


def jobs_for(workflow: Mapping[str, Any], github: Context) -> list[str]:
    """The jobs whose `if:` holds for the event `github` describes (in file order)."""
    context = {"github": github, "_status": _status("success")}
    return [
        name for name, job in workflow["jobs"].items() if "if" not in job or evaluate(str(job["if"]), context)
    ]


def _status(job_status: str) -> dict[str, bool]:
    return {
        "success": job_status == "success",
        "failure": job_status == "failure",
        "cancelled": job_status == "cancelled",
        "always": True,
    }


# --- running a job -------------------------------------------------------------------------------

#: How GitHub cancels a step (docs: "Canceling a workflow"): SIGINT to the step's entry process (bash
#: for a `run:` step), SIGTERM if it has not exited 7.5 s later, then the process tree is killed 2.5 s
#: after that. Processes a step leaves behind are killed when the job ends ("orphan processes").
SIGINT_GRACE, SIGTERM_GRACE = 7.5, 2.5


@dataclass(frozen=True)
class Cancel:
    """Cancel the job, as GitHub does, during the step named `step`, as soon as `when()` is true
    (polled every 50 ms while the step runs)."""

    step: str
    when: Callable[[], object]


@dataclass
class StepResult:
    """One step: its name, whether it ran (an action counts as run: the caller did its part), whether
    the caller's script ran in its place, its exit status and everything it printed."""

    name: str
    ran: bool
    code: int = 0
    output: str = ""
    stood_in: bool = False


@dataclass
class JobResult:
    """A job's steps, its status (``success``, ``failure`` or ``cancelled``), its step summary, and
    the processes its steps left behind (killed at the end of the job, as a runner does)."""

    name: str
    steps: list[StepResult] = field(default_factory=list)
    status: str = "success"
    summary: str = ""
    orphans: list[str] = field(default_factory=list)

    def step(self, name: str) -> StepResult:
        """The step named `name`."""
        (found,) = [s for s in self.steps if s.name == name]
        return found

    @property
    def failed(self) -> StepResult | None:
        """The first step that failed, if any."""
        return next((s for s in self.steps if s.ran and s.code != 0), None)


def _step_name(step: Mapping[str, Any]) -> str:
    return str(step.get("name") or step.get("id") or step.get("uses") or step["run"].splitlines()[0])


def _env(layers: list[Mapping[str, Any]], context: Context) -> dict[str, str]:
    env: dict[str, str] = {}
    for layer in layers:
        env.update({key: interpolate(value, context) for key, value in (layer or {}).items()})
    return env


def _step_condition(step: Mapping[str, Any]) -> str:
    """The step's `if:`; without a status function in it, Actions adds `success() &&`."""
    condition = str(step.get("if", "success()"))
    if not any(f"{status}(" in condition for status in _STATUS):
        condition = f"success() && ({condition.removeprefix('${{').removesuffix('}}')})"
    return condition


def session_processes(sid: int) -> list[Proc]:
    """The live processes of session `sid` (a step's processes: the runner's children keep it)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        proc = Proc.read(int(entry)) if int(fields[3]) == sid and fields[0] != "Z" else None
        if proc is not None:
            found.append(proc)
    return found


def _cancel(proc: subprocess.Popen[bytes], when: Callable[[], object], cancelled: list[bool]) -> None:
    """Wait for `when()`, then stop `proc` (the step's entry process) as GitHub's runner does."""
    while proc.poll() is None and not when():
        time.sleep(0.05)
    if proc.poll() is not None:
        return  # the step ended first: nothing to cancel
    cancelled.append(True)
    for sig, grace in ((signal.SIGINT, SIGINT_GRACE), (signal.SIGTERM, SIGTERM_GRACE)):
        proc.send_signal(sig)
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            pass
    signal_all(session_processes(proc.pid), signal.SIGKILL)


def _run_script(
    script: Path, cwd: Path, env: Mapping[str, str], log: Path, cancel: Callable[[], object] | None,
    timeout: float,
) -> tuple[int, bool, int]:  # fmt: skip
    """Run one `run:` step in a session of its own; (exit status, cancelled?, session id)."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    cancelled: list[bool] = []
    watcher = threading.Thread(target=_cancel, args=(proc, cancel, cancelled)) if cancel else None
    if watcher is not None:
        watcher.start()
    try:
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            signal_all(session_processes(proc.pid), signal.SIGKILL)
            proc.wait()
        if watcher is not None:
            watcher.join()
    return code, bool(cancelled), proc.pid


def _step_env(
    workflow: Mapping[str, Any],
    job: Mapping[str, Any],
    step: Mapping[str, Any],
    context: Mapping[str, Any],
    base_env: Mapping[str, str],
    workspace: Path,
    files: Path,
) -> dict[str, str]:
    """A `run:` step's environment: the runner's, the workflow's, job's and step's `env:`, the
    `$GITHUB_PATH` additions so far, and the variables GitHub sets."""
    env = dict(base_env)
    env.update(_env([workflow.get("env", {}), job.get("env", {}), step.get("env", {})], context))
    added = [line for line in (files / "path").read_text().splitlines() if line]
    env["PATH"] = os.pathsep.join([*reversed(added), env["PATH"]])
    env.update(
        CI="true", GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(workspace), GITHUB_PATH=str(files / "path"),
        GITHUB_STEP_SUMMARY=str(files / "step_summary"), RUNNER_TEMP=str(files),
    )  # fmt: skip
    return env


def run_job(
    workflow: Mapping[str, Any],
    name: str,
    *,
    github: Context,
    secrets: Mapping[str, str],
    workspace: Path,
    base_env: Mapping[str, str],
    uses: UsesHandler,
    stand_in: Callable[[Mapping[str, Any]], str | None] = lambda step: None,
    cancel: Cancel | None = None,
    timeout: float = 900,
) -> JobResult:
    """Run job `name` of `workflow` in `workspace` (the runner's checkout, made by the caller).

    `base_env` is the runner's own environment (PATH, HOME...). `stand_in(step)` may return a script
    that runs instead of that `run:` step (the test's equivalent of an install, say), else None.
    `cancel`: cancel the job during one of its steps, as GitHub does (:data:`SIGINT_GRACE`).
    """
    job = workflow["jobs"][name]
    defaults = {
        **(workflow.get("defaults") or {}).get("run", {}),
        **(job.get("defaults") or {}).get("run", {}),
    }
    if defaults.get("shell") != "bash":
        raise ExpressionError(f"job {name}: only `shell: bash` steps run here, not {defaults.get('shell')!r}")
    files = workspace.parent / f"{workspace.name}-github"
    files.mkdir(exist_ok=True)
    github_path, summary = files / "path", files / "step_summary"
    for path in (github_path, summary):
        path.write_text("")
    result = JobResult(name)
    sessions: list[int] = []
    context: dict[str, Any] = {"github": github, "secrets": secrets}
    for index, step in enumerate(job["steps"]):
        context["_status"] = _status(result.status)
        step_name = _step_name(step)
        if not evaluate(_step_condition(step), context):
            result.steps.append(StepResult(step_name, ran=False))
            continue
        if "uses" in step:
            uses(step, workspace)
            result.steps.append(StepResult(step_name, ran=True))
            continue
        if "${{" in str(step["run"]):
            raise ExpressionError(f"step {step_name!r}: pass values through env:, not ${{{{ }}}} in run:")
        replacement = stand_in(step)
        script = files / f"step-{index}.sh"
        script.write_text(replacement or str(step["run"]))
        env = _step_env(workflow, job, step, context, base_env, workspace, files)
        cwd = workspace / str(step.get("working-directory", defaults.get("working-directory", ".")))
        log = files / f"step-{index}.log"
        when = cancel.when if cancel is not None and cancel.step == step_name else None
        code, cancelled, sid = _run_script(script, cwd, env, log, when, timeout)
        sessions.append(sid)
        output = log.read_text(errors="replace")
        result.steps.append(StepResult(step_name, True, code, output, stood_in=replacement is not None))
        if cancelled:
            result.status = "cancelled"
        elif code != 0 and result.status == "success":
            result.status = "failure"
    for sid in sessions:  # the runner's cleanup of orphan processes, at the end of the job
        left = session_processes(sid)
        result.orphans += [p.cmdline for p in left]
        signal_all(left, signal.SIGKILL)
    result.summary = summary.read_text()
    return result
