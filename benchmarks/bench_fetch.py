"""Benchmark fetching symbols through yfinance against the replay server.

Run it with `.venv/bin/python benchmarks/bench_fetch.py [--symbols 500]
[--threads 1 4] [--rounds 1]`. It needs PostgreSQL at
`KABUFLOW_BENCH_FETCH_DATABASE_URL` (default: database `kabuflow_bench_fetch` on
127.0.0.1:5432, created and migrated here) and empties its price tables.

A replay server in its own process serves
the recorded universe (`KABUFLOW_UNIVERSE_PARQUET`, default
`../shared/data/tse_daily_2020-09_2022-09.parquet`) (3,768 Tokyo symbols, two
years of daily bars); without that file it serves the project's 300-symbol sample of
it, and the output says so. N symbols spread evenly over the sorted universe are
fetched for the file's whole window (about 490 bars each), at every `--threads`
level, three ways:

1. fetch: `YahooSource.fetch`, yfinance's own request and parsing code over HTTP;
2. fetch + store: `pipeline.fetch_symbol`, that fetch, normalization and an upsert
   into a `daily_prices` emptied before the run (every bar is inserted);
3. raw HTTP: the very chart requests yfinance sent in (1), sent again with httpx
   and read, not parsed: what the server and HTTP cost.

bars/s counts the bars yfinance returned (stored, for fetch + store). fetch / raw
HTTP (a ratio of symbols per second) is the share of a fetch spent in the server and
on the wire; the rest is yfinance. The server runs in another process so
that it does not share the client's GIL, as Yahoo or `kabuflow replay serve` would.

Each thread has its own `YahooSource`, but yfinance runs one call at a time per
process (`kabuflow.yfinance_state`): threads overlap only the work around it
(normalize and store in 2). Airflow gets its parallelism from processes. Every
answer is checked to come from 127.0.0.1, and the server's counts to match the
requests sent. `--rounds 3` repeats every run in turn and adds medians.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import multiprocessing
import os
import queue
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg

from kabuflow import migrations
from kabuflow.intervals import FetchWindow
from kabuflow.pipeline import SymbolOutcome, fetch_symbol
from kabuflow.replay import ReplayServer
from kabuflow.replay.server import SAMPLE_DIR, recorded_universe
from kabuflow.source import FetchResult, YahooSource
from kabuflow.source_errors import Exchange
from kabuflow.stack.database import ensure_database
from kabuflow.store import PriceStore

log = logging.getLogger(__name__)

UNIVERSE = recorded_universe()

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/kabuflow_bench_fetch"
SAMPLE = SAMPLE_DIR / "tse_daily_sample.parquet"
LOCAL_HOST = "127.0.0.1"
# The server's clock and the window: the day after the files' last session
# (Friday 2022-09-16), so every bar is final; the files start on 2020-09-16.
NOW = dt.datetime(2022, 9, 17, tzinfo=dt.UTC)
WINDOW = FetchWindow.parse("1d", start="2020-09-16", end="2022-09-17")
CHART_ROUTE = "/v8/finance/chart/<path:symbol>"
TIMEOUT = 30.0


@dataclass(frozen=True)
class Run:
    """One measured run: `bars` fetched (stored, for fetch+store) in `seconds`."""

    mode: str
    threads: int
    symbols: int
    seconds: float
    bars: int


def main() -> int:
    args = _arguments()
    _configure_output()
    ensure_database(args.database_url)
    migrations.upgrade(args.database_url)
    data = UNIVERSE if UNIVERSE.exists() else SAMPLE
    if data is SAMPLE:
        log.warning("%s is missing: serving the project's sample %s", UNIVERSE, SAMPLE)

    with _ServerProcess(data) as server:
        served = f"{len(server.symbols):,} symbols of {data}"
        if data is SAMPLE:
            served += f" (the sample: {UNIVERSE} is missing)"
        bench = _Bench(server.url, pick(server.symbols, args.symbols))
        bench.warm_up()
        rounds = []
        for number in range(1, args.rounds + 1):
            rounds.append(bench.round(args.threads, args.database_url))
            _report(f"round {number}", served, rounds[-1])
    if len(rounds) > 1:
        _report("median", served, _medians(rounds))
    return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "KABUFLOW_BENCH_FETCH_DATABASE_URL", DEFAULT_DATABASE_URL
        ),
    )
    parser.add_argument("--symbols", type=int, default=500, help="symbols per run")
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 4], help="concurrency levels"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat every run, report medians"
    )
    args = parser.parse_args()
    if args.symbols < 1 or args.rounds < 1 or min(args.threads) < 1:
        parser.error("--symbols, --threads and --rounds must be at least 1")
    return args


def _configure_output() -> None:
    # Sources log every fetch at INFO and normalization warns for every refused bar:
    # only errors from the product, progress from here.
    logging.basicConfig(
        level=logging.ERROR, format="%(asctime)s %(levelname)s %(message)s"
    )
    log.setLevel(logging.INFO)


def pick(symbols: Sequence[str], count: int) -> list[str]:
    """Return `count` of the sorted `symbols`, spread evenly (all when fewer)."""
    if count >= len(symbols):
        if count > len(symbols):
            log.warning("only %s symbols to fetch, not %s", len(symbols), count)
        return list(symbols)
    step = len(symbols) / count
    return [symbols[int(i * step)] for i in range(count)]


class _ServerProcess:
    """A `ReplayServer` over `data` in a child process, for a `with` block."""

    def __init__(self, data: Path):
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._answers, child_end = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve, args=(data, child_end, self._stop), daemon=True
        )
        self.url = ""
        self.symbols: list[str] = []

    def __enter__(self) -> _ServerProcess:
        started = time.perf_counter()
        self._process.start()
        try:
            if not self._answers.poll(120):
                raise TimeoutError("the replay server did not start within 120 s")
            self.url, self.symbols = self._answers.recv()
        except (TimeoutError, EOFError) as err:
            self._process.kill()
            raise RuntimeError(
                f"no replay server: {err or 'its process died'}"
            ) from err
        if urlsplit(self.url).hostname != LOCAL_HOST:
            raise AssertionError(f"the replay server is not local: {self.url}")
        log.info(
            "replay server on %s with %s symbols, ready in %.1f s",
            self.url,
            len(self.symbols),
            time.perf_counter() - started,
        )
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._process.join(timeout=15)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def _serve(data: Path, answers, stop) -> None:
    logging.basicConfig(level=logging.ERROR)
    server = ReplayServer([data], now=NOW.isoformat(), host=LOCAL_HOST)
    symbols = sorted(s for s in server.store.symbols() if s.endswith(".T"))
    with server.running() as url:
        answers.send((url, symbols))
        stop.wait()


class _Bench:
    """The three ways of fetching `symbols` from the replay server at `url`."""

    def __init__(self, url: str, symbols: list[str]):
        self.url = url
        self.symbols = symbols
        self._exchanges: list[Exchange] = []
        self._chart_urls: list[str] = []
        self._bars = 0

    def warm_up(self) -> None:
        """Fetch one symbol: yfinance's cookie and crumb handshake, once a process."""
        with self._sources(1)[0] as source:
            source.fetch(self.symbols[0], WINDOW, now=NOW)
        self._check_answers()
        log.info("warmed up with %s requests", len(self._exchanges))

    def round(self, levels: Sequence[int], database_url: str) -> list[Run]:
        """Run every mode at every threads level, in turn; return the runs."""
        runs = []
        for threads in levels:
            runs.append(self._fetch(threads))
            runs.append(self._fetch_and_store(threads, database_url))
            runs.append(self._raw(threads))
        return runs

    def _fetch(self, threads: int) -> Run:
        seconds, results = self._fetched(threads, _fetch_one)
        self._chart_urls = [e.url for e in self._exchanges if "/chart/" in e.url]
        bars = sum(len(result.frame) for result in results)
        if self._bars and bars != self._bars:
            raise AssertionError(f"fetched {bars:,} bars, {self._bars:,} before")
        self._bars = bars
        return self._run("fetch", threads, seconds, bars, len(self._exchanges))

    def _fetch_and_store(self, threads: int, database_url: str) -> Run:
        _empty(database_url)
        store = PriceStore(database_url)

        def work(source: YahooSource, symbol: str) -> SymbolOutcome:
            return fetch_symbol(symbol, WINDOW, source=source, store=store, now=NOW)

        seconds, outcomes = self._fetched(threads, work)
        stored = sum(outcome.inserted for outcome in outcomes)
        if any(outcome.history_refetched for outcome in outcomes):
            raise AssertionError("a first load fetched a whole history again")
        in_table = _stored_bars(database_url)
        if in_table != stored:
            raise AssertionError(f"daily_prices holds {in_table:,}, not {stored:,}")
        return self._run("fetch+store", threads, seconds, stored, len(self._exchanges))

    def _raw(self, threads: int) -> Run:
        clients = [httpx.Client(timeout=TIMEOUT) for _ in range(threads)]
        seconds, _ = self._timed(clients, self._chart_urls, _get)
        self._check_server(len(self._chart_urls))
        return self._run(
            "raw HTTP", threads, seconds, self._bars, len(self._chart_urls)
        )

    def _fetched(self, threads: int, work: Callable) -> tuple[float, list]:
        self._exchanges.clear()
        seconds, results = self._timed(self._sources(threads), self.symbols, work)
        self._check_answers()
        self._check_server(sum("/chart/" in e.url for e in self._exchanges))
        return seconds, results

    def _timed(self, clients: list, items: list, work: Callable) -> tuple:
        _reset_stats(self.url)
        try:
            return run_threads(clients, items, work)
        finally:
            for client in clients:
                client.close()

    def _sources(self, count: int) -> list[YahooSource]:
        sources = [
            YahooSource(self.url, timeout=TIMEOUT, observer=self._exchanges.append)
            for _ in range(count)
        ]
        if any(source.base_url != self.url for source in sources):
            raise AssertionError("a source does not fetch from the replay server")
        return sources

    def _check_answers(self) -> None:
        hosts = {urlsplit(exchange.url).hostname for exchange in self._exchanges}
        if hosts != {LOCAL_HOST}:
            raise AssertionError(f"answers came from {hosts}, not only {LOCAL_HOST}")
        failed = [e for e in self._exchanges if e.status != 200]
        if failed:
            raise AssertionError(f"{len(failed)} answers were not 200: {failed[:3]}")

    def _check_server(self, sent: int) -> None:
        stats = httpx.get(f"{self.url}/__replay/stats", timeout=TIMEOUT).json()
        answered = stats["by_route"].get(CHART_ROUTE, 0)
        if answered != sent or set(stats["by_status"]) != {"200"}:
            raise AssertionError(
                f"the server answered {answered} chart requests, {sent} were sent:"
                f" {stats['by_route']}, {stats['by_status']}"
            )

    def _run(self, mode, threads, seconds: float, bars: int, requests: int) -> Run:
        log.info(
            "%s, %s thread(s): %s symbols, %s requests in %.1f s",
            mode,
            threads,
            len(self.symbols),
            requests,
            seconds,
        )
        return Run(mode, threads, len(self.symbols), seconds, bars)


def run_threads(clients: list, items: Sequence, work: Callable) -> tuple[float, list]:
    """Run `work(client, item)` for every item on one thread per client.

    Return the seconds taken and the results in item order; the first exception
    of any item is raised.
    """
    spare: queue.SimpleQueue = queue.SimpleQueue()
    for client in clients:
        spare.put(client)
    local = threading.local()

    def take_client() -> None:
        local.client = spare.get_nowait()

    started = time.perf_counter()
    with ThreadPoolExecutor(len(clients), initializer=take_client) as pool:
        results = list(pool.map(lambda item: work(local.client, item), items))
    return time.perf_counter() - started, results


def _fetch_one(source: YahooSource, symbol: str) -> FetchResult:
    return source.fetch(symbol, WINDOW, now=NOW)


def _get(client: httpx.Client, url: str) -> None:
    client.get(url).raise_for_status()


def _reset_stats(url: str) -> None:
    httpx.delete(f"{url}/__replay/stats", timeout=TIMEOUT).raise_for_status()


def _empty(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("TRUNCATE daily_prices, corporate_actions")
        conn.execute("CHECKPOINT")


def _stored_bars(url: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM daily_prices").fetchone()[0]


def _medians(rounds: list[list[Run]]) -> list[Run]:
    return [
        replace(runs[0], seconds=statistics.median(run.seconds for run in runs))
        for runs in zip(*rounds, strict=True)
    ]


def _report(title: str, served: str, runs: list[Run]) -> None:
    load = os.getloadavg()[0]
    print(f"{title}: {runs[0].symbols} of the {served}, load average {load:.1f}")
    print(
        f"  {'mode':12} {'threads':>7} {'symbols':>7} {'seconds':>8}"
        f" {'symbols/s':>10} {'bars/s':>10}"
    )
    for run in runs:
        print(
            f"  {run.mode:12} {run.threads:7} {run.symbols:7} {run.seconds:8.1f}"
            f" {run.symbols / run.seconds:10.1f} {run.bars / run.seconds:10,.0f}"
        )
    rates = {(run.mode, run.threads): run.symbols / run.seconds for run in runs}
    levels = sorted({run.threads for run in runs})
    print("  ratio of symbols/s     " + "".join(f"{t:>4} thr." for t in levels))
    for name, upper, lower in [
        ("fetch+store / fetch", "fetch+store", "fetch"),
        ("fetch / raw HTTP", "fetch", "raw HTTP"),
    ]:
        ratios = [rates[(upper, t)] / rates[(lower, t)] for t in levels]
        print(f"  {name:22}" + "".join(f"{ratio:9.2f}" for ratio in ratios))


if __name__ == "__main__":
    raise SystemExit(main())
