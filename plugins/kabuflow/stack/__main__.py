"""`python -m kabuflow.stack up|down|status`: the local Airflow stack from a shell."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from kabuflow.errors import KabuflowError
from kabuflow.settings import SettingsError
from kabuflow.stack.airflow_stack import AirflowStack, StackStatus
from kabuflow.stack.config import ADMIN_USER, REPO_ROOT, SERVICE_USER, StackConfig

MIB = 1024 * 1024


def _up(stack: AirflowStack) -> int:
    started = time.monotonic()
    status = stack.up()
    config = stack.config
    print(f"Airflow is up at {status.api_url} ({time.monotonic() - started:.1f} s)")
    print(f"  UI user {ADMIN_USER}: password in {_shown(config.passwords_file)}")
    print(f"  API user {SERVICE_USER}: AIRFLOW_API_* settings in")
    print(f"    {_shown(config.client_env_file)} (set -a; . that file; set +a)")
    print(f"  airflow CLI: set -a; . {_shown(config.env_file)}; set +a")
    print(f"  logs: {_shown(config.home / 'logs')}")
    _print_status(status)
    return 0


def _down(stack: AirflowStack) -> int:
    stopped = stack.down()
    print(f"Airflow is down: {len(stopped)} process(es) stopped")
    return 0


def _status(stack: AirflowStack) -> int:
    status = stack.status()
    _print_status(status)
    return 0 if status.healthy else 1


def _print_status(status: StackStatus) -> None:
    print(f"{'component':<14} {'pid':>7} {'procs':>5} {'RSS MiB':>8} {'PSS MiB':>8}")
    for c in status.components:
        pid = str(c.pid) if c.pid else "-"
        rss, pss = c.rss_bytes / MIB, c.pss_bytes / MIB
        print(f"{c.name:<14} {pid:>7} {c.processes:>5} {rss:>8.0f} {pss:>8.0f}")
    if status.health is None:
        print(f"health: no answer from {status.api_url}")
    else:
        parts = ("metadatabase", "scheduler", "dag_processor")
        summary = ", ".join(f"{p} {status.health[p]['status']}" for p in parts)
        print(f"health: {summary}")


def _shown(path: Path) -> str:
    return (
        str(path.relative_to(REPO_ROOT))
        if path.is_relative_to(REPO_ROOT)
        else str(path)
    )


def main(argv: list[str] | None = None) -> int:
    """Run one stack command; return its exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m kabuflow.stack", description=__doc__
    )
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # One line per HTTP request drowns the progress messages.
    logging.getLogger("httpx").setLevel(
        logging.DEBUG if args.verbose else logging.WARNING
    )
    handlers = {"up": _up, "down": _down, "status": _status}
    try:
        return handlers[args.command](AirflowStack(StackConfig.from_env()))
    except (KabuflowError, SettingsError) as exc:
        print(f"kabuflow.stack {args.command}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
