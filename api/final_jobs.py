"""Remember the answers for jobs that have ended, for a few seconds, in this process.

A final job changes little, yet clients poll it as often as running ones; answering
it from memory spares the database. Entries live `ttl` seconds, so a late correction
(a callback that settles one more stock after the batch closed) shows within that
time. Running jobs are never kept: their answer must agree with Airflow every time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable

from api.progress import FINAL_STATUSES, JobFacts

DEFAULT_MAX_ENTRIES = 10_000


class FinalJobCache:
    """A small, thread-safe, time-limited map from a job reference to a final job."""

    def __init__(
        self,
        ttl: float,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[Hashable, tuple[float, JobFacts]] = {}
        self._lock = threading.Lock()

    def get(self, ref: Hashable) -> JobFacts | None:
        """Return the job kept for `ref`, or None if none is kept or it is too old."""
        with self._lock:
            entry = self._entries.get(ref)
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[ref]
                return None
            return entry[1]

    def put(self, ref: Hashable, job: JobFacts) -> None:
        """Keep `job` for `ref` if it has ended (and caching is on)."""
        if self._ttl <= 0 or job.status not in FINAL_STATUSES:
            return
        with self._lock:
            if len(self._entries) >= self._max_entries:
                # Dicts keep insertion order: the first entry is the oldest.
                del self._entries[next(iter(self._entries))]
            self._entries[ref] = (self._clock() + self._ttl, job)
