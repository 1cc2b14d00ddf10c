"""Benchmark `bulk_fetch` on Airflow against the same fetch-and-store work in a loop.

Run it with `.venv/bin/python benchmarks/bench_airflow.py [--symbols N]
[--symbols-per-task 50] [--parallelism 4] [--per-stock 500] [--skip-per-stock]
[--rounds 1]`. It needs PostgreSQL on 127.0.0.1:5432 for two databases of its own:
the app database `KABUFLOW_BENCH_AIRFLOW_DATABASE_URL` (default
`kabuflow_bench_airflow`, created and migrated here; its price tables are emptied
before every load) and Airflow's metadata database
`KABUFLOW_BENCH_AIRFLOW_METADATA_URL` (default `kabuflow_bench_airflow_metadata`,
dropped and created afresh). The stack gets free ports and a temporary home, so it
runs beside other stacks; its home is kept (and named) only when something failed.

A replay server in this process serves
the recorded universe (`KABUFLOW_UNIVERSE_PARQUET`, default
`../shared/data/tse_daily_2020-09_2022-09.parquet`) (3,768 Tokyo symbols, about 490
daily bars each). Every symbol, or the first N with `--symbols`, is fetched for
2020-09-01 to 2022-09-17 (end exclusive) and stored; each round measures, in turn:

1. plain loop: the groups of `--symbols-per-task` symbols that `bulk_fetch` cuts,
   each through `pipeline.fetch_group` with a `YahooSource` and a `PriceStore` of its
   own, exactly as a `fetch_prices` task does, in a `multiprocessing` pool of
   `--parallelism` processes. Airflow's LocalExecutor runs every task instance in a
   process of its own (and yfinance runs one call at a time per process), so
   processes, not threads, give both sides the same concurrency. The pool's processes
   start with their imports done before the clock starts, as the scheduler's
   pre-forked workers do. The loop writes no batch record, as a user's own script
   would not; the Airflow stack is down meanwhile.
2. Airflow, grouped: the stack (LocalExecutor, `parallelism` and `yahoo` pool slots
   both `--parallelism`) runs `bulk_fetch` with the same symbols, window and
   `symbols_per_task`. Besides the fetches, the run creates its batch record and
   writes each stock's result into it. Timed from the trigger to the run being final
   (the batch record polled every 0.2 s, then Airflow every 0.5 s); Airflow's own
   start_date to end_date is printed as well.
3. Airflow, per stock: `bulk_fetch` over the first `--per-stock` symbols, one task
   instance each (`symbols_per_task` 1), timed the same way.

Both sides of 1 and 2 must store the same number of rows (checked). Goal: Airflow /
loop <= 1.3 (ratio of wall times). `group s` is the median time one group took in its
process (for Airflow, a `fetch_prices` instance's duration): wall time beyond it is
scheduling. `requests` are those the replay server answered: yfinance's handshake
once per process (per task instance, on Airflow) and two `chart` requests per symbol
(the time-zone lookup, then the bars). `--rounds 3` repeats the three loads in turn and
adds medians.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import multiprocessing
import os
import shutil
import socket
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from kabuflow import migrations
from kabuflow.airflow_client import AirflowClient
from kabuflow.batches import BatchService
from kabuflow.bulk_request import parse_bulk_request, parse_window, window_to_dict
from kabuflow.errors import AirflowNotFoundError
from kabuflow.pipeline import fetch_group
from kabuflow.replay import ReplayServer
from kabuflow.replay.server import recorded_universe
from kabuflow.settings import get_settings
from kabuflow.source import YahooSource
from kabuflow.stack import AirflowStack, StackConfig
from kabuflow.stack.config import ADMIN_USER, REPO_ROOT
from kabuflow.stack.database import database_name, ensure_database, maintenance_url
from kabuflow.store import PriceStore

log = logging.getLogger(__name__)

UNIVERSE = recorded_universe()

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/kabuflow_bench_airflow"
DEFAULT_METADATA_URL = (
    "postgresql+psycopg://postgres@127.0.0.1:5432/kabuflow_bench_airflow_metadata"
)
DAG = "bulk_fetch"
DAG_FILE = REPO_ROOT / "dags" / f"{DAG}.py"
FETCH_TASK = "fetch_prices"
WINDOW = {"interval": "1d", "start": "2020-09-01", "end": "2022-09-17"}
CHART_ROUTE = "/v8/finance/chart/<path:symbol>"
FINAL_RUN_STATES = {"success", "failed"}
POLL_SECONDS = 0.5
BATCH_POLL_SECONDS = 0.2
PROGRESS_SECONDS = 30.0
RUN_TIMEOUT = 3 * 3600.0
DAG_PARSE_TIMEOUT = 180.0
SHOWN_FAILURES = 5


@dataclass(frozen=True)
class Load:
    """One measured load: wall seconds, rows left in `daily_prices`, what went wrong.

    `requests` counts what the replay server answered (`chart` its chart requests);
    `group_seconds` is the median time one group took inside its process (a loop
    call, a `fetch_prices` instance's duration). `run_seconds` (Airflow's start_date
    to end_date), `instances` and `retried` (`fetch_prices` instances, those tried
    more than once) are Airflow's only.
    """

    symbols: int
    seconds: float
    problems: tuple[str, ...] = ()
    rows: int = 0
    requests: int = 0
    chart: int = 0
    group_seconds: float | None = None
    run_seconds: float | None = None
    instances: int = 0
    retried: int = 0


@dataclass(frozen=True)
class Round:
    """The three loads of one round; `per_stock` is None with `--skip-per-stock`."""

    loop: Load
    grouped: Load
    per_stock: Load | None


def main() -> int:
    args = _arguments()
    _configure_output()
    ensure_database(args.database_url)
    migrations.upgrade(args.database_url)
    _drop_database(args.metadata_url)
    if not UNIVERSE.exists():
        raise SystemExit(f"{UNIVERSE} is missing: the benchmark needs the universe")

    replay = ReplayServer([UNIVERSE])
    universe = sorted(s for s in replay.store.symbols() if s.endswith(".T"))
    symbols = universe[: args.symbols] if args.symbols else universe
    per_stock = [] if args.skip_per_stock else universe[: args.per_stock]
    with replay.running() as url:
        _point_loop_at(url, args.database_url)
        bench = _Bench(args, replay, _stack_config(args, url))
        rounds = bench.run(symbols, per_stock)
    if len(rounds) > 1:
        _report("median", args, _medians(rounds))
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "KABUFLOW_BENCH_AIRFLOW_DATABASE_URL", DEFAULT_DATABASE_URL
        ),
    )
    parser.add_argument(
        "--metadata-url",
        default=os.environ.get(
            "KABUFLOW_BENCH_AIRFLOW_METADATA_URL", DEFAULT_METADATA_URL
        ),
        help="Airflow's metadata database (dropped and created afresh)",
    )
    parser.add_argument(
        "--symbols", type=int, default=0, help="first N universe symbols (0: all)"
    )
    parser.add_argument("--per-stock", type=int, default=500, help="symbols")
    parser.add_argument("--skip-per-stock", action="store_true")
    parser.add_argument("--symbols-per-task", type=int, default=50)
    parser.add_argument(
        "--parallelism", type=int, default=4, help="processes = pool slots"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat the three loads, report medians"
    )
    args = parser.parse_args()
    if min(args.per_stock, args.symbols_per_task, args.parallelism, args.rounds) < 1:
        parser.error("--per-stock, --symbols-per-task, --parallelism, --rounds >= 1")
    if args.symbols < 0:
        parser.error("--symbols must be 0 (all) or more")
    return args


def _configure_output() -> None:
    # Every fetch logs at INFO and normalization warns for every refused bar: only
    # errors from the product, progress from here and from the stack.
    logging.basicConfig(
        level=logging.ERROR, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    log.setLevel(logging.INFO)
    logging.getLogger("kabuflow.stack").setLevel(logging.INFO)


def _point_loop_at(replay_url: str, database_url: str) -> None:
    """Give the loop's processes the settings Airflow gives its tasks."""
    # Read by `YahooSource()` and `PriceStore()` in every process (not cached); the
    # spawned pool processes inherit them.
    os.environ["KABUFLOW_YAHOO_URL"] = replay_url
    os.environ["KABUFLOW_DATABASE_URL"] = database_url
    settings = get_settings()
    if (settings.yahoo_url, settings.database_url) != (replay_url, database_url):
        raise AssertionError(f"the loop would not use the replay server: {settings}")


def _stack_config(args: argparse.Namespace, replay_url: str) -> StackConfig:
    home = Path(tempfile.mkdtemp(prefix="kabuflow-bench-airflow-"))
    dags = home / "dags"
    dags.mkdir()
    (dags / DAG_FILE.name).symlink_to(DAG_FILE)
    return StackConfig(
        home=home,
        dags_folder=dags,
        metadata_database_url=args.metadata_url,
        app_database_url=args.database_url,
        api_port=_free_port(),
        log_server_port=_free_port(),
        parallelism=args.parallelism,
        yahoo_pool_slots=args.parallelism,
        ready_timeout=240,
        extra_env={
            "KABUFLOW_YAHOO_URL": replay_url,
            # A retried fetch would wait 30 s by default.
            "KABUFLOW_RETRY_DELAY_SECONDS": "1",
        },
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _drop_database(url: str) -> None:
    """Drop the database named in `url`, disconnecting its sessions first."""
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
    with psycopg.connect(maintenance_url(url), autocommit=True) as conn:
        conn.execute(drop.format(sql.Identifier(database_name(url))))


class _Bench:
    """The three loads of every round, over one replay server and one stack."""

    def __init__(self, args, replay: ReplayServer, config: StackConfig):
        self.args = args
        self.replay = replay
        self.stack = AirflowStack(config)
        self.batches = BatchService(args.database_url)

    def run(self, symbols: list[str], per_stock: list[str]) -> list[Round]:
        """Run every round and report it; stop the stack whatever happens."""
        rounds: list[Round] = []
        finished = False
        try:
            for number in range(1, self.args.rounds + 1):
                rounds.append(self._round(number, symbols, per_stock))
                _report(f"round {number}", self.args, rounds[-1])
                _check_same_rows(rounds[-1])
            finished = True
        finally:
            self.stack.down()
            self._clean_home(finished)
        return rounds

    def _round(self, number: int, symbols: list[str], per_stock: list[str]) -> Round:
        size = self.args.symbols_per_task
        log.info("round %d: plain loop over %d symbols", number, len(symbols))
        loop = self._measure(lambda: self._loop(_conf(symbols, size)))

        self.stack.up()
        with self.stack.client() as client:
            self._ready(client)
            log.info("round %d: Airflow over %d symbols", number, len(symbols))
            grouped = self._measure(
                lambda: self._airflow(client, f"grouped-{number}", symbols, size)
            )
            stock = None
            if per_stock:
                log.info("round %d: Airflow per stock, %d", number, len(per_stock))
                stock = self._measure(
                    lambda: self._airflow(client, f"per-stock-{number}", per_stock, 1)
                )
        self.stack.down()
        return Round(loop, grouped, stock)

    def _measure(self, load) -> Load:
        """Empty the price tables, run `load`; return it with the rows and requests."""
        with psycopg.connect(self.args.database_url, autocommit=True) as conn:
            conn.execute("TRUNCATE daily_prices, corporate_actions")
            conn.execute("CHECKPOINT")
        self.replay.state.reset_stats()
        measured: Load = load()
        log.info("%d symbols in %.1f s", measured.symbols, measured.seconds)
        stats = self.replay.state.stats()
        with psycopg.connect(self.args.database_url) as conn:
            rows = conn.execute("SELECT count(*) FROM daily_prices").fetchone()[0]
        chart = stats["by_route"].get(CHART_ROUTE, 0)
        return replace(measured, rows=rows, requests=stats["requests"], chart=chart)

    def _loop(self, conf: dict[str, Any]) -> Load:
        request = parse_bulk_request(conf)
        fields = window_to_dict(request.window)
        groups = [(group, fields) for group in request.groups()]
        processes = self.args.parallelism
        # Spawned, not forked: this process runs the replay server's threads and a
        # connection pool, which forked children would share.
        context = multiprocessing.get_context("spawn")
        ready = context.Queue()
        with context.Pool(processes, _start_worker, (ready,)) as pool:
            for _ in range(processes):
                ready.get(timeout=120)
            log.info("%d processes ready, %d groups to fetch", processes, len(groups))
            started = time.perf_counter()
            results = list(pool.imap_unordered(_fetch_group, groups, chunksize=1))
            seconds = time.perf_counter() - started
            pool.close()
            pool.join()
        errors = {s: e for _, failed in results for s, e in failed.items()}
        group = statistics.median(took for took, _ in results)
        return Load(
            len(request.symbols), seconds, _failures(errors), group_seconds=group
        )

    def _ready(self, client: AirflowClient) -> None:
        """Wait until the stack has parsed `bulk_fetch`; unpause it if it is paused."""
        deadline = time.monotonic() + DAG_PARSE_TIMEOUT
        while (dag := _parsed_dag(client)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{DAG} not parsed in {DAG_PARSE_TIMEOUT:.0f} s")
            time.sleep(POLL_SECONDS)
        if dag["is_paused"]:
            with self.stack.client(ADMIN_USER) as admin:
                admin.unpause_dag(DAG)

    def _airflow(self, client, label: str, symbols: list[str], size: int) -> Load:
        run_id = f"bench-{label}-{time.time_ns()}"
        started = time.perf_counter()
        client.trigger_dag_run(DAG, run_id, _conf(symbols, size))
        run = _wait_final(client, self.batches, run_id, started)
        seconds = time.perf_counter() - started

        fetches = [
            ti
            for ti in client.list_task_instances(DAG, run_id)
            if ti["task_id"] == FETCH_TASK
        ]
        problems = self._run_problems(run, run_id, len(symbols), fetches)
        return Load(
            len(symbols),
            seconds,
            problems,
            group_seconds=_median_duration(fetches),
            run_seconds=_run_seconds(run),
            instances=len(fetches),
            retried=sum(ti["try_number"] > 1 for ti in fetches),
        )

    def _run_problems(self, run, run_id: str, symbols: int, fetches) -> tuple:
        problems = []
        if run["state"] != "success":
            problems.append(f"run {run_id} ended {run['state']}")
        states = Counter(ti["state"] for ti in fetches)
        if set(states) != {"success"}:
            problems.append(f"{FETCH_TASK} instances by state: {dict(states)}")
        batch = self.batches.get_batch_by_job_id(run_id)
        if batch is None:
            return (*problems, f"run {run_id} wrote no batch")
        if batch.status != "completed" or batch.successful_stocks != symbols:
            problems.append(
                f"batch {batch.id} {batch.status}: {batch.successful_stocks} of "
                f"{symbols} stocks succeeded, {batch.failed_stocks} failed"
            )
            failed = self.batches.get_batch_details(batch.id, status="failed")
            problems.extend(_failures({d.stock_code: d.error_message for d in failed}))
        return tuple(problems)

    def _clean_home(self, finished: bool) -> None:
        home = self.stack.config.home
        if finished:
            shutil.rmtree(home, ignore_errors=True)
        else:
            log.warning("the stack's home and logs are kept in %s", home)


def _start_worker(ready) -> None:
    logging.basicConfig(level=logging.ERROR)
    ready.put(os.getpid())


def _fetch_group(item: tuple[list[str], dict]) -> tuple[float, dict[str, str]]:
    """Fetch and store one group as `fetch_prices` does.

    Return the seconds it took and each failed symbol's error.
    """
    symbols, fields = item
    started = time.perf_counter()
    with YahooSource() as source:
        result = fetch_group(
            symbols, parse_window(fields), source=source, store=PriceStore()
        )
    errors = {s: f"{type(e).__name__}: {e}" for s, e in result.errors.items()}
    return time.perf_counter() - started, errors


def _parsed_dag(client: AirflowClient) -> dict | None:
    try:
        return client.get_dag(DAG)
    except AirflowNotFoundError:
        return None


def _conf(symbols: list[str], size: int) -> dict[str, Any]:
    return {"symbols": symbols, **WINDOW, "symbols_per_task": size}


def _wait_final(
    client: AirflowClient, batches: BatchService, run_id: str, started: float
) -> dict:
    """Return the run once it is final.

    The batch record is polled until it is closed (a cheap query), and Airflow only
    then: every REST call costs the api-server CPU that the run's tasks share, and
    two calls a second for minutes would bill Airflow for the benchmark's own
    curiosity.
    """
    shown = started
    while True:
        batch = batches.get_batch_by_job_id(run_id)
        if batch is not None and batch.status != "running":
            break
        now = time.perf_counter()
        if now - started > RUN_TIMEOUT:
            raise TimeoutError(f"run {run_id} not final after {RUN_TIMEOUT:.0f} s")
        if now - shown >= PROGRESS_SECONDS:
            log.info("run %s running after %.0f s", run_id, now - started)
            shown = now
        time.sleep(BATCH_POLL_SECONDS)
    while True:
        run = client.get_dag_run(DAG, run_id)
        if run["state"] in FINAL_RUN_STATES:
            return run
        if time.perf_counter() - started > RUN_TIMEOUT:
            raise TimeoutError(f"run {run_id} not final after {RUN_TIMEOUT:.0f} s")
        time.sleep(POLL_SECONDS)


def _run_seconds(run: dict) -> float | None:
    if not run.get("start_date") or not run.get("end_date"):
        return None
    start = dt.datetime.fromisoformat(run["start_date"])
    return (dt.datetime.fromisoformat(run["end_date"]) - start).total_seconds()


def _median_duration(instances: list[dict]) -> float | None:
    durations = [ti["duration"] for ti in instances if ti.get("duration") is not None]
    return statistics.median(durations) if durations else None


def _failures(errors: dict[str, str | None]) -> tuple[str, ...]:
    if not errors:
        return ()
    shown = [
        f"  {symbol}: {errors[symbol]}" for symbol in list(errors)[:SHOWN_FAILURES]
    ]
    return (f"{len(errors)} symbols failed, first {len(shown)}:", *shown)


def _check_same_rows(result: Round) -> None:
    if result.loop.rows != result.grouped.rows:
        raise AssertionError(
            f"the loop stored {result.loop.rows:,} rows, Airflow "
            f"{result.grouped.rows:,}"
        )


def _medians(rounds: list[Round]) -> Round:
    def median(loads: list[Load]) -> Load:
        run = [load.run_seconds for load in loads if load.run_seconds is not None]
        group = [load.group_seconds for load in loads if load.group_seconds]
        return replace(
            loads[0],
            seconds=statistics.median(load.seconds for load in loads),
            group_seconds=statistics.median(group) if group else None,
            run_seconds=statistics.median(run) if run else None,
            problems=(),
        )

    per_stock = [r.per_stock for r in rounds if r.per_stock is not None]
    return Round(
        median([r.loop for r in rounds]),
        median([r.grouped for r in rounds]),
        median(per_stock) if per_stock else None,
    )


def _report(title: str, args: argparse.Namespace, result: Round) -> None:
    loop, grouped, per_stock = result.loop, result.grouped, result.per_stock
    span = f"{WINDOW['start']}..{WINDOW['end']} {WINDOW['interval']}"
    print(
        f"{title}: {loop.symbols:,} symbols, {span}, {args.symbols_per_task} symbols"
        f" per task, {args.parallelism} processes = {args.parallelism} pool slots,"
        f" load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"  {'':20} {'wall s':>7} {'symbols/s':>9} {'group s':>7} {'rows':>10}"
        f" {'requests':>8} {'chart':>6}"
    )
    _line("plain loop", loop, "no batch record")
    _line("Airflow, grouped", grouped, _airflow_note(grouped))
    ratio = grouped.seconds / loop.seconds
    verdict = "met" if ratio <= 1.3 else "MISSED"
    print(f"  Airflow / loop: {ratio:.2f} (goal <= 1.3: {verdict})")
    if per_stock is not None:
        each = per_stock.seconds / max(per_stock.instances, 1)
        note = f"{_airflow_note(per_stock)}, {each:.2f} s per task instance"
        _line("Airflow, per stock", per_stock, note)


def _line(name: str, load: Load, note: str) -> None:
    group = "?" if load.group_seconds is None else f"{load.group_seconds:.2f}"
    print(
        f"  {name:20} {load.seconds:7.1f} {load.symbols / load.seconds:9.1f}"
        f" {group:>7} {load.rows:10,} {load.requests:8,} {load.chart:6,}"
    )
    print(f"    {note}")
    for problem in load.problems:
        print(f"    {problem}")


def _airflow_note(load: Load) -> str:
    run = "?" if load.run_seconds is None else f"{load.run_seconds:.1f} s"
    return (
        f"run start->end {run}, {load.instances} {FETCH_TASK} instances,"
        f" {load.retried} retried, batch record written"
    )


if __name__ == "__main__":
    raise SystemExit(main())
