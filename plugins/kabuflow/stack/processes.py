"""Start long-running processes in sessions of their own, find them, stop them all.

A started process leads a new session, and its pid file (`<run_dir>/<name>.pid`: pid
and start time, so a reused pid is never mistaken for ours) names that session.
Airflow moves each task into a process group of its own, so stopping by group alone
would miss tasks; the session still holds them, even once orphaned, so `stop_all`
stops every process of the session. Airflow renames its processes (setproctitle),
which also overwrites their visible environment: the session is the marker to trust.

A process started again after it died (a scheduler killed with SIGKILL) leads a new
session, while the orphans of its old one (forked executor workers, running tasks)
live on: `<name>.former` keeps such sessions so that `stop_all` still ends them.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from kabuflow.errors import StackError

log = logging.getLogger(__name__)

KILL_WAIT = 5.0


@dataclass
class ManagedProcess:
    """One named process of a stack, started detached, tracked through its pid file."""

    name: str
    argv: Sequence[str]
    run_dir: Path
    log_dir: Path
    _popen: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    @property
    def former_file(self) -> Path:
        return self.run_dir / f"{self.name}.former"

    def start(self, env: Mapping[str, str], cwd: Path) -> int:
        """Start the process as leader of a new session; return its pid.

        An earlier session of this name that still has members is kept in
        `former_file`, so `stop_all` ends its orphans too.
        """
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._keep_former_session()
        with open(self.log_file, "ab") as log_handle:
            self._popen = subprocess.Popen(
                list(self.argv),
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log_handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        pid = self._popen.pid
        started = psutil.Process(pid).create_time()
        self.pid_file.write_text(f"{pid} {started!r}\n", encoding="ascii")
        log.info("started %s (pid %d), log %s", self.name, pid, self.log_file)
        return pid

    def session_id(self) -> int | None:
        """Return the id of this process's session, even after the process ended.

        None when nothing was recorded, or when the pid now belongs to an unrelated
        process (Linux never reuses a pid that still names a session, so that session
        has no members left).
        """
        recorded = self._recorded()
        return None if recorded is None else _session_of(*recorded)

    def session_ids(self) -> list[int]:
        """Return the current session and every former one (see `former_file`)."""
        former = [_session_of(pid, started) for pid, started in self._former()]
        current = self.session_id()
        return [sid for sid in (*former, current) if sid is not None]

    def process(self) -> psutil.Process | None:
        """Return the live process named by the pid file, or None."""
        if self._popen is not None:
            self._popen.poll()  # reap it if it died, so it does not linger as a zombie
        recorded = self._recorded()
        if recorded is None:
            return None
        try:
            proc = psutil.Process(recorded[0])
            if abs(proc.create_time() - recorded[1]) > 0.01:
                return None  # the pid now belongs to an unrelated process
            if proc.status() == psutil.STATUS_ZOMBIE:
                return None
        except psutil.NoSuchProcess:
            return None
        return proc

    def _recorded(self) -> tuple[int, float] | None:
        try:
            pid_text, started_text = self.pid_file.read_text(encoding="ascii").split()
            return int(pid_text), float(started_text)
        except (FileNotFoundError, ValueError):
            return None

    def _former(self) -> list[tuple[int, float]]:
        try:
            lines = self.former_file.read_text(encoding="ascii").splitlines()
        except FileNotFoundError:
            return []
        return [(int(pid), float(started)) for pid, started in map(str.split, lines)]

    def _keep_former_session(self) -> None:
        recorded = self._recorded()
        if recorded is None or self.process() is not None:
            return
        session = _session_of(*recorded)
        if session is None or not session_members([session]):
            return
        log.warning(
            "%s left processes in session %d; keeping track", self.name, session
        )
        with open(self.former_file, "a", encoding="ascii") as former:
            former.write(f"{recorded[0]} {recorded[1]!r}\n")

    def exit_code(self) -> int | None:
        """Return the exit code if this object started the process and it ended."""
        return None if self._popen is None else self._popen.poll()

    def log_tail(self, lines: int = 25) -> str:
        """Return the last `lines` lines of the log file."""
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return "(no log file)"
        return "\n".join(text.splitlines()[-lines:])

    def forget(self) -> None:
        """Remove the pid files, once the processes are known to be gone."""
        self.pid_file.unlink(missing_ok=True)
        self.former_file.unlink(missing_ok=True)
        if self._popen is not None:
            self._popen.poll()


def _session_of(pid: int, started: float) -> int | None:
    """Return the session `pid` led if the pid is still ours, else None.

    A pid whose process started at another time was reused; a pid with no process
    may still name the session of its orphans (Linux does not reuse it meanwhile).
    """
    try:
        reused = abs(psutil.Process(pid).create_time() - started) > 0.01
    except psutil.NoSuchProcess:
        return pid
    return None if reused else pid


def tree(proc: psutil.Process) -> list[psutil.Process]:
    """Return `proc` and all its descendants that are still alive."""
    try:
        return [proc, *proc.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def session_members(session_ids: Iterable[int]) -> list[psutil.Process]:
    """Return every live process in one of the sessions, orphans included."""
    wanted = set(session_ids)
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) in wanted and _alive(proc):
                found.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue  # it ended while we looked
    return found


def stop_all(processes: Iterable[ManagedProcess], grace: float) -> list[int]:
    """Stop the processes and everything in their sessions; return the pids stopped.

    SIGTERM goes to each leader's process group and to every session member; what is
    alive after `grace` seconds gets SIGKILL. Raises `StackError` listing any process
    that survived both.
    """
    processes = list(processes)
    sessions = [sid for p in processes for sid in p.session_ids()]
    leaders = [proc for p in processes if (proc := p.process()) is not None]
    members = session_members(sessions)
    targets = _unique([*(q for p in leaders for q in tree(p)), *members])

    for leader in leaders:
        _signal_group(leader.pid, signal.SIGTERM)
    for proc in targets:
        _signal(proc, signal.SIGTERM)
    _, alive = psutil.wait_procs(targets, timeout=grace)

    if alive:
        log.warning(
            "killing %d process(es) still running %.0f s after SIGTERM: %s",
            len(alive),
            grace,
            ", ".join(_describe(p) for p in alive),
        )
        for proc in alive:
            _signal_group(proc.pid, signal.SIGKILL)
            _signal(proc, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=KILL_WAIT)

    survivors = session_members(sessions)
    if survivors:
        pids = ", ".join(str(p.pid) for p in survivors)
        raise StackError(f"processes still running after SIGKILL: {pids}")
    for managed in processes:
        managed.forget()
    return sorted(p.pid for p in targets)


def _describe(proc: psutil.Process) -> str:
    try:
        return f"{proc.pid} ({' '.join(proc.cmdline())[:60]})"
    except psutil.NoSuchProcess:
        return f"{proc.pid} (ended)"


def _unique(procs: Iterable[psutil.Process]) -> list[psutil.Process]:
    return list({proc.pid: proc for proc in procs}.values())


def _signal_group(pid: int, signum: int) -> None:
    # Only a group the process leads: never signal a group shared with others.
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signum)
    except ProcessLookupError:
        pass  # it ended between the scan and the signal: nothing left to stop


def _signal(proc: psutil.Process, signum: int) -> None:
    try:
        proc.send_signal(signum)
    except psutil.NoSuchProcess:
        pass  # it ended between the scan and the signal: nothing left to stop


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
