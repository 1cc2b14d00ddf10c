"""The `kabuflow` command: errors become a message and an exit code."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from kabuflow.errors import KabuflowError
from kabuflow.settings import SettingsError

log = logging.getLogger(__name__)


def _db(args: argparse.Namespace) -> int:
    from kabuflow import migrations

    if args.action == "upgrade":
        applied = migrations.upgrade(args.database_url)
        print(f"applied: {', '.join(applied) if applied else 'nothing (up to date)'}")
    elif args.action == "downgrade":
        steps = None if args.all else args.steps
        undone = migrations.downgrade(args.database_url, steps=steps)
        print(f"rolled back: {', '.join(undone) if undone else 'nothing'}")
    elif args.action == "current":
        print(migrations.current(args.database_url) or "(empty database)")
    else:
        for migration_id, applied in migrations.status(args.database_url):
            print(f"{'applied' if applied else 'pending'}  {migration_id}")
    return 0


def _replay(args: argparse.Namespace) -> int:
    from kabuflow.replay import ReplayServer, Scenario

    scenario = Scenario.from_file(args.scenario) if args.scenario else None
    server = ReplayServer(
        data=args.data, scenario=scenario, now=args.now, host=args.host, port=args.port
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        log.info("replay server stopped")
    return 0


def _add_replay(commands) -> None:
    replay = commands.add_parser("replay", help="serve recorded prices as Yahoo does")
    replay.add_argument("action", choices=["serve"])
    replay.add_argument("--host", default="127.0.0.1")
    replay.add_argument("--port", type=int, default=8765)
    replay.add_argument(
        "--data",
        nargs="+",
        help="parquet/CSV files or directories, later ones win per symbol "
        "(default: data/sample)",
    )
    replay.add_argument("--now", help="the server's clock, e.g. 2022-09-16T09:00:00Z")
    replay.add_argument("--scenario", help="a scenario JSON file (faults on purpose)")
    replay.set_defaults(handler=_replay)


def _fetch(args: argparse.Namespace) -> int:
    from kabuflow.bulk_request import parse_bulk_request
    from kabuflow.pipeline import fetch_symbol
    from kabuflow.source import YahooSource
    from kabuflow.store import PriceStore

    fields = ("interval", "period", "start", "end")
    request = parse_bulk_request(
        {"symbols": [args.symbol], **{name: getattr(args, name) for name in fields}}
    )
    symbol = request.symbols[0]
    with YahooSource() as source:
        outcome = fetch_symbol(
            symbol, request.window, source=source, store=PriceStore(args.database_url)
        )

    if outcome.no_data_expected:
        print(f"{symbol} {outcome.interval}: no trading session in the window")
        return 0
    print(
        f"{symbol} {outcome.interval}: inserted {outcome.inserted}, "
        f"updated {outcome.updated}, unchanged {outcome.unchanged}"
        + (f", rejected {outcome.rejected}" if outcome.rejected else "")
    )
    if outcome.history_refetched:
        print("  (a new corporate action: the whole history was fetched again)")
    if outcome.missing_sessions:
        days = ", ".join(day.isoformat() for day in outcome.missing_sessions)
        print(f"  no bar from Yahoo for these sessions: {days}")
    return 0


def _add_fetch(commands) -> None:
    fetch = commands.add_parser("fetch", help="fetch and store one symbol's prices")
    fetch.add_argument("symbol", help="a Yahoo symbol, e.g. 7203.T (7203 means 7203.T)")
    fetch.add_argument("--interval", default="1d", help="default: 1d")
    fetch.add_argument("--period", help="e.g. 1y; or give --start and --end")
    fetch.add_argument("--start", help="YYYY-MM-DD")
    fetch.add_argument("--end", help="YYYY-MM-DD, exclusive")
    fetch.add_argument("--database-url", help="default: KABUFLOW_DATABASE_URL")
    fetch.set_defaults(handler=_fetch)


def _demo(args: argparse.Namespace) -> int:
    from kabuflow.demo import DemoConfig
    from kabuflow.demo.run import run_demo
    from kabuflow.demo.services import DemoServices

    if not args.verbose:
        # The demo prints its own steps; library INFO lines would bury them.
        logging.getLogger().setLevel(logging.WARNING)
    environ = {**os.environ, **({"KABUFLOW_DEMO_LIVE": "1"} if args.live else {})}
    config = DemoConfig.from_env(environ)
    if args.action == "down":
        stopped = DemoServices(config).down()
        print(f"demo stopped: {len(stopped)} process(es)")
        return 0
    plain = args.plain or not sys.stdout.isatty()
    return run_demo(config, plain=plain)


def _add_demo(commands) -> None:
    demo = commands.add_parser(
        "demo", help="run a bulk fetch end to end (make demo), or stop it all (down)"
    )
    demo.add_argument("action", nargs="?", default="run", choices=["run", "down"])
    demo.add_argument(
        "--plain",
        action="store_true",
        help="no redrawn progress bar (the default when stdout is not a terminal)",
    )
    demo.add_argument(
        "--live",
        action="store_true",
        help="fetch from the real Yahoo Finance (as KABUFLOW_DEMO_LIVE=1)",
    )
    demo.set_defaults(handler=_demo)


def _stock_master(args: argparse.Namespace) -> int:
    from kabuflow.stock_master import refresh_stock_master

    result = refresh_stock_master(args.source, database_url=args.database_url)
    print(
        f"stock master from {result.source} ({result.list_date}): "
        f"{result.total_issues} issues, {result.added} added, {result.changed} "
        f"changed, {result.delisted} delisted, {result.relisted} relisted"
    )
    return 0


def _add_stock_master(commands) -> None:
    master = commands.add_parser(
        "stock-master", help="load the listed-issues list into stock_master"
    )
    master.add_argument("action", choices=["load"])
    master.add_argument(
        "--source",
        help="a file path or URL of JPX's list as CSV (default: "
        "KABUFLOW_LISTED_ISSUES_URL, else the bundled list)",
    )
    master.add_argument("--database-url", help="default: KABUFLOW_DATABASE_URL")
    master.set_defaults(handler=_stock_master)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kabuflow", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log DEBUG")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="migrate the app database schema")
    db.add_argument("action", choices=["upgrade", "downgrade", "current", "status"])
    db.add_argument("--database-url", help="default: KABUFLOW_DATABASE_URL")
    db.add_argument("--steps", type=int, default=1, help="downgrade: how many")
    db.add_argument("--all", action="store_true", help="downgrade: every migration")
    db.set_defaults(handler=_db)

    _add_replay(commands)
    _add_fetch(commands)
    _add_stock_master(commands)
    _add_demo(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the `kabuflow` command line; return its exit code."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.handler(args)
    except SettingsError as exc:
        print(f"kabuflow: configuration error: {exc}", file=sys.stderr)
        return 2
    except (KabuflowError, ValueError) as exc:
        print(f"kabuflow: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
