"""Command line: ``python -m datadog_org_connections.emulator [--host H] [--port P] [--seed F] ...``.

Prints exactly one line, ``listening on http://HOST:PORT``, to stdout once it accepts
connections; request logs (never keys) go to stderr. Stops cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from .ratelimit import DEFAULT_RATE_LIMIT, RateLimitConfig
from .seed import DEFAULT_SEED_PATH, SeedError
from .server import Emulator


def _rate_limit(text: str) -> RateLimitConfig:
    try:
        return RateLimitConfig.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _latency(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of milliseconds, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("latency must not be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the emulator's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m datadog_org_connections.emulator",
        description="Local emulator of the Datadog org connections API.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=8126, help="port to bind; 0 picks a free one (default 8126)"
    )
    parser.add_argument(
        "--seed", default=None, help=f"seed JSON file (default {DEFAULT_SEED_PATH.name} in the package)"
    )
    parser.add_argument("--state", default=None, help="file keeping the connections across restarts")
    parser.add_argument(
        "--rate-limit",
        type=_rate_limit,
        default=DEFAULT_RATE_LIMIT,
        metavar="R/P",
        help=f"R requests per P seconds per org and endpoint "
        f"(default {DEFAULT_RATE_LIMIT.limit}/{DEFAULT_RATE_LIMIT.period_text()})",
    )
    parser.add_argument(
        "--latency-ms", type=_latency, default=0.0, help="milliseconds added to every API answer"
    )
    parser.add_argument("--quiet", action="store_true", help="do not log requests to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the emulator until SIGTERM/SIGINT; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        emulator = Emulator(
            args.seed,
            host=args.host,
            port=args.port,
            state_path=args.state,
            rate_limit=args.rate_limit,
            latency_ms=args.latency_ms,
            log_requests=not args.quiet,
        )
    except (SeedError, OSError, ValueError) as exc:
        print(f"emulator: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    emulator.serve_in_thread()
    print(f"listening on {emulator.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
