"""A thin Pulumi language host for Python programs: `pulumi-language-python`.

Upstream's language host is a Go module without release tags that the Go module proxy here does
not serve, so `scripts/install-pulumi` installs this one instead. It implements the engine's
`LanguageRuntime` gRPC service with the servicer the Python SDK ships, and runs each program in a
fresh Python process, the way upstream does:

    pulumi-language-python <engine address>      # serve; print the port on stdout
    pulumi-language-python --exec <flags> PROG    # (internal) run one program in this interpreter

Which interpreter runs the program: the `virtualenv` runtime option of `Pulumi.yaml` (relative to
the project root), else `$PULUMI_PYTHON_CMD`, else the interpreter running this host.

Policy packs (`pulumi preview --policy-pack DIR`): the engine (pkg/resource/plugin/plugin.go,
`ExecPlugin`) finds `DIR/PulumiPolicy.yaml`, loads the language host of its `runtime`, and calls
`RunPlugin` with kind "analyzer"; no `pulumi-analyzer-policy-python` executable is involved. Like
upstream, `RunPlugin` runs `python -u -m pulumi.policy <args> DIR` in DIR (the interpreter chosen
as above, from PulumiPolicy.yaml's options) and streams its output back; the pack prints its port
on stdout. Unlike upstream, the pack gets no stack configuration (PULUMI_STACK, PULUMI_CONFIG).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import os
import queue
import runpy
import signal
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

# Exit code the program uses to say "an error was already shown to the user" (upstream's value).
BAIL_EXIT_CODE = 32


def _python_for(options: dict[str, Any], root: str, project_file: str = "Pulumi.yaml") -> str:
    venv = options.get("virtualenv")
    if isinstance(venv, str) and venv:
        path = venv if os.path.isabs(venv) else os.path.join(root or os.getcwd(), venv)
        python = os.path.join(path, "bin", "python")
        if not os.path.exists(python):
            raise RuntimeError(
                f"The 'virtualenv' option in {project_file} is set to {venv!r}, but {python} does not exist: "
                f"create it with `python3 -m venv {path}` and install the program's requirements into it"
            )
        return python
    return os.environ.get("PULUMI_PYTHON_CMD") or sys.executable


def _options(info: Any) -> dict[str, Any]:
    """The runtime options of Pulumi.yaml / PulumiPolicy.yaml (`runtime.options`), as a dict."""
    from google.protobuf import json_format

    return json_format.MessageToDict(info.options) if info.HasField("options") else {}


def _program_command(request: Any, engine_address: str) -> tuple[list[str], dict[str, str], str]:
    """The command, environment and directory that run a `Run` request's program (`--exec` below).

    Raises RuntimeError (the message is for the user) when the project's virtualenv is missing."""
    info = request.info
    root = info.root_directory or request.pwd
    python = _python_for(_options(info), root)
    program = request.program or "."
    if info.program_directory:
        program = os.path.join(info.program_directory, info.entry_point or ".")
    cmd = [
        python, "-u", os.path.abspath(__file__), "--exec",
        "--monitor", request.monitor_address,
        "--engine", engine_address,
        "--project", request.project,
        "--stack", request.stack,
        "--organization", request.organization or "organization",
        "--root-directory", root,
        "--pwd", request.pwd or root,
        "--parallel", str(request.parallel),
        "--dry-run", "true" if request.dryRun else "false",
        program, *request.args,
    ]  # fmt: skip
    env = dict(os.environ)
    env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
    env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
    return cmd, env, request.pwd or root


def _policy_pack_command(request: Any) -> tuple[list[str], dict[str, str], str]:
    """The command, environment and directory that run a `RunPlugin` request's policy pack."""
    pack = request.info.program_directory
    python = _python_for(_options(request.info), request.info.root_directory or pack, "PulumiPolicy.yaml")
    env = dict(os.environ)
    env.update(e.split("=", 1) for e in request.env if "=" in e)
    return [python, "-u", "-m", "pulumi.policy", *request.args, pack], env, pack


def _language_host(engine_address: str) -> Any:
    """The LanguageRuntime servicer (the SDK's generated base class, imported only when serving)."""
    import grpc
    import pulumi
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import LanguageRuntimeServicer, language_pb2, plugin_pb2

    class LanguageHost(LanguageRuntimeServicer):  # type: ignore[misc]
        def Handshake(self, request: Any, context: Any) -> Any:
            return language_pb2.LanguageHandshakeResponse()

        def GetPluginInfo(self, request: Any, context: Any) -> Any:
            return plugin_pb2.PluginInfo(version=getattr(pulumi, "__version__", ""))

        def GetRequiredPlugins(self, request: Any, context: Any) -> Any:
            return language_pb2.GetRequiredPluginsResponse()

        def GetRequiredPackages(self, request: Any, context: Any) -> Any:
            return language_pb2.GetRequiredPackagesResponse()

        def InstallDependencies(self, request: Any, context: Any) -> Iterator[Any]:
            return iter(())

        def RuntimeOptionsPrompts(self, request: Any, context: Any) -> Any:
            return language_pb2.RuntimeOptionsResponse()

        def About(self, request: Any, context: Any) -> Any:
            v = sys.version_info
            return language_pb2.AboutResponse(
                executable=sys.executable, version=f"{v.major}.{v.minor}.{v.micro}"
            )

        def GetProgramDependencies(self, request: Any, context: Any) -> Any:
            from importlib import metadata

            deps = [language_pb2.DependencyInfo(name=d.metadata["Name"], version=d.version)
                    for d in metadata.distributions() if d.metadata["Name"]]  # fmt: skip
            return language_pb2.GetProgramDependenciesResponse(dependencies=deps)

        def Cancel(self, request: Any, context: Any) -> Any:
            return empty_pb2.Empty()

        def RunPlugin(self, request: Any, context: Any) -> Iterator[Any]:
            if request.kind != "analyzer":
                context.abort(grpc.StatusCode.UNIMPLEMENTED,
                              f"this language host runs policy packs only, not plugins of kind {request.kind!r}")  # fmt: skip
            try:
                cmd, env, pack = _policy_pack_command(request)
            except RuntimeError as exc:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
            yield from _stream(cmd, pack, env, context.add_callback, language_pb2.RunPluginResponse)

        def Run(self, request: Any, context: Any) -> Any:
            try:
                cmd, env, cwd = _program_command(request, engine_address)
            except RuntimeError as exc:
                return language_pb2.RunResponse(error=str(exc))
            # The program's output goes to our stdout/stderr, which the engine shows as diagnostics.
            code = _PROGRAMS.run(cmd, env, cwd)
            if code == 0:
                return language_pb2.RunResponse()
            if code == BAIL_EXIT_CODE:
                return language_pb2.RunResponse(bail=True)
            return language_pb2.RunResponse(error=f"Program exited with non-zero exit code: {code}")

    return LanguageHost()


def serve(engine_address: str) -> None:
    """Serve the LanguageRuntime service until the engine closes us."""
    import grpc
    from pulumi.runtime.proto.language_pb2_grpc import add_LanguageRuntimeServicer_to_server

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)],
    )
    add_LanguageRuntimeServicer_to_server(_language_host(engine_address), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    # The engine stops plugins with SIGINT (then SIGKILL): stop quietly, not with a traceback.
    signal.signal(signal.SIGINT, lambda *_: server.stop(grace=0))
    signal.signal(signal.SIGTERM, lambda *_: server.stop(grace=0))
    _stop_with_the_engine(server)
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()
    server.wait_for_termination()


class _Programs:
    """The program processes `Run` started and that are still running."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: set[subprocess.Popen[bytes]] = set()

    def run(self, cmd: list[str], env: dict[str, str], cwd: str) -> int:
        """Run one program to its end; its exit code."""
        proc = subprocess.Popen(cmd, env=env, cwd=cwd)
        with self._lock:
            self._running.add(proc)
        try:
            return proc.wait()
        finally:
            with self._lock:
                self._running.discard(proc)

    def stop(self, grace_seconds: float = 5.0) -> None:
        """Terminate every running program (SIGTERM, then SIGKILL after `grace_seconds`)."""
        with self._lock:
            running = list(self._running)
        for proc in running:
            proc.terminate()
        for proc in running:
            try:
                proc.wait(timeout=grace_seconds)
            except subprocess.TimeoutExpired:
                proc.kill()


_PROGRAMS = _Programs()


def _stop_with_the_engine(server: Any, poll_seconds: float = 1.0) -> None:
    """Stop once the engine that started this host is gone (killed), instead of lingering.

    The program it runs goes too: with its engine gone it has nothing to report to, and would
    otherwise wait on its calls to the engine's resource monitor (seen: still running 15 s later)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        _PROGRAMS.stop()
        server.stop(grace=0)

    threading.Thread(target=watch, name="stop-with-the-engine", daemon=True).start()


def _stream(
    cmd: list[str], cwd: str, env: dict[str, str], on_cancel: Callable[[Callable[[], None]], Any], reply: Any
) -> Iterator[Any]:
    """Run `cmd`; yield its stdout/stderr as they come, then its exit code (RunPlugin's stream).

    The engine stops the plugin by cancelling the call: the child is then terminated.
    """
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    on_cancel(proc.terminate)
    chunks: queue.Queue[tuple[str, bytes]] = queue.Queue()

    def pump(name: str, pipe: Any) -> None:
        for chunk in iter(lambda: pipe.read1(65536), b""):
            chunks.put((name, chunk))
        chunks.put((name, b""))

    for name, pipe in (("stdout", proc.stdout), ("stderr", proc.stderr)):
        threading.Thread(target=pump, args=(name, pipe), daemon=True).start()
    try:
        open_pipes = 2
        while open_pipes:
            name, chunk = chunks.get()
            if chunk:
                yield reply(**{name: chunk})
            else:
                open_pipes -= 1
        yield reply(exitcode=proc.wait())
    finally:
        if proc.poll() is None:
            proc.terminate()


def _user_traceback(exc: BaseException, program: str) -> str:
    """The traceback from the first frame of the user's program on (not this runner's frames)."""
    main = os.path.join(program, "__main__.py") if os.path.isdir(program) else program
    frames = traceback.extract_tb(exc.__traceback__)
    for index, frame in enumerate(frames):
        if os.path.abspath(frame.filename) == os.path.abspath(main):
            return "".join(traceback.format_exception(exc, limit=-(len(frames) - index)))
    return "".join(traceback.format_exception(exc))


def _exec_args(argv: list[str]) -> argparse.Namespace:
    """The flags `Run` passes to `--exec` (see `_program_command`)."""
    ap = argparse.ArgumentParser(prog="pulumi-language-python --exec")
    for flag in ("monitor", "engine", "project", "stack", "organization", "root-directory", "pwd",
                 "parallel", "dry-run"):  # fmt: skip
        ap.add_argument(f"--{flag}", default="")
    ap.add_argument("program")
    ap.add_argument("args", nargs="*")
    return ap.parse_args(argv)


def _configure_runtime(args: argparse.Namespace) -> Any:
    """Configure the SDK's runtime for this program (config, monitor, engine, stack); its Settings."""
    import pulumi.runtime

    pulumi.runtime.set_all_config(
        pulumi.runtime.get_config_env(), pulumi.runtime.get_config_secret_keys_env()
    )
    settings_kwargs: dict[str, Any] = {
        "monitor": args.monitor,
        "engine": args.engine,
        "project": args.project,
        "stack": args.stack,
        "parallel": int(args.parallel or 0),
        "dry_run": args.dry_run == "true",
        "organization": args.organization,
        "root_directory": args.root_directory,
    }
    try:
        settings = pulumi.runtime.Settings(**settings_kwargs)
    except TypeError:
        # Older SDKs (before root_directory) take fewer settings: pass those they know, as upstream does.
        known = inspect.signature(pulumi.runtime.Settings.__init__).parameters
        settings = pulumi.runtime.Settings(**{k: v for k, v in settings_kwargs.items() if k in known})
    pulumi.runtime.configure(settings)
    return settings


def _run_program(program: str, parallel: int) -> int:
    """Run the program's `__main__` in the SDK's stack; the exit code `Run` expects."""
    import pulumi
    import pulumi.runtime

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    executor = futures.ThreadPoolExecutor(max_workers=max(parallel or 1, 1) * 4)
    loop.set_default_executor(executor)
    # Unobserved failed futures are expected when a program fails part-way; upstream hides them too.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    try:
        loop.run_until_complete(
            pulumi.runtime.run_in_stack(lambda: runpy.run_path(program, run_name="__main__"))
        )
        return 0
    except pulumi.RunError as exc:
        if "Resource monitor has terminated" in str(exc):
            # The engine stopped the deployment (a resource failed and said why): nothing to add.
            pulumi.log.debug(str(exc))
        else:
            pulumi.log.error(str(exc))
        return 1
    except Exception as exc:
        pulumi.log.error("Program failed with an unhandled exception:\n" + _user_traceback(exc, program))
        return BAIL_EXIT_CODE
    finally:
        executor.shutdown(wait=True)
        loop.close()
        sys.stdout.flush()
        sys.stderr.flush()


def execute(argv: list[str]) -> int:
    """Run one Pulumi program in this interpreter (the child side of `Run`)."""
    # Cancelling is the engine's job (one Ctrl-C: finish what is in flight): a SIGINT sent to every
    # process of the run must not end the program with a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    args = _exec_args(argv)
    settings = _configure_runtime(args)
    if args.pwd:
        os.chdir(args.pwd)
    sys.argv = [args.program, *args.args]
    program = os.path.abspath(args.program)
    if os.path.isdir(program) and not os.path.exists(os.path.join(program, "__main__.py")):
        import pulumi

        pulumi.log.error(f"unable to find main python program `__main__.py` in `{program}`")
        return BAIL_EXIT_CODE
    return _run_program(program, settings.parallel)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--exec":
        sys.exit(execute(sys.argv[2:]))
    positional = [a for a in sys.argv[1:] if not a.startswith("-")]
    if not positional:
        sys.stderr.write("usage: pulumi-language-python <engine address>\n")
        sys.exit(2)
    serve(positional[-1])


if __name__ == "__main__":
    main()
