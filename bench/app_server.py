"""The benchmark app (``bench_app``) served by waitress in a subprocess, with or without OpenTelemetry.

Besides starting and stopping it, this reads the app's CPU time thread by thread
(``sample``) and splits the CPU between two samples by what each thread does
(``split_cpu``): waitress's worker threads serve requests, its main thread runs
the socket loop, and every other thread (the SDK's batch processors, whose
thread calls the exporter's ``export()``, otel-discord's spool and delivery
threads, the benchmark's flush thread) works for telemetry.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import psutil
import requests
from benchlib import BENCH_DIR, LOOPBACK, child_env, free_port, venv_bin

THREADS: Final = 4
#: waitress names its worker threads ``waitress-0`` … (``waitress/task.py``); they run the WSGI app.
REQUEST_THREAD: Final = re.compile(r"waitress-\d+")
MAIN_THREAD: Final = "MainThread"  # waitress-serve's own thread: the asyncore socket loop
UNNAMED: Final = "(not a Python thread, or ended before it was named)"


@dataclass(frozen=True)
class CPUSample:
    """CPU seconds of each live thread (by native id) and of the whole process, at one moment.

    ``clock`` says where the per-thread times come from: ``schedstat`` (Linux's
    per-task run time, in nanoseconds) or ``psutil`` (user + system time in clock
    ticks, 10 ms on Linux: too coarse for a thread that runs 30 ms in a run).
    """

    threads: dict[int, float]
    process: float
    clock: str


@dataclass
class CPUSplit:
    """CPU seconds between two samples, by thread role, and per thread name."""

    request: float = 0.0
    main: float = 0.0
    telemetry: float = 0.0
    #: the process's total minus the live threads' sum: threads that ended between the samples, and the
    #: process total's clock-tick rounding (±10 ms)
    unaccounted: float = 0.0
    by_name: dict[str, float] = field(default_factory=dict)


def role(name: str, native_id: int, pid: int) -> str:
    """``request``, ``main`` or ``telemetry`` for one thread of the app process."""
    if REQUEST_THREAD.fullmatch(name):
        return "request"
    if native_id == pid or name == MAIN_THREAD:
        return "main"
    return "telemetry"


def split_cpu(before: CPUSample, after: CPUSample, names: Mapping[int, str], pid: int) -> CPUSplit:
    """The CPU used between ``before`` and ``after``, split by thread role.

    A thread alive only at ``after`` started in between: all its time counts. A
    thread alive only at ``before`` ended in between: its last time is unknown, so
    it lands in ``unaccounted``. A native id whose time went down belongs to a new
    thread that reused the id of an ended one: all its time counts.
    """
    if before.clock != after.clock:
        raise ValueError(f"samples from different clocks: {before.clock} and {after.clock}")
    split = CPUSplit()
    for native_id, now in after.threads.items():
        then = before.threads.get(native_id, 0.0)
        used = now - then if now >= then else now
        name = names.get(native_id, UNNAMED)
        kind = role(name, native_id, pid)
        setattr(split, kind, getattr(split, kind) + used)
        split.by_name[name] = split.by_name.get(name, 0.0) + used
    split.unaccounted = (after.process - before.process) - (split.request + split.main + split.telemetry)
    return split


def _schedstat(pid: int) -> dict[int, float] | None:
    """Run time of each thread in seconds, at nanosecond resolution; None where Linux does not offer it."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    times: dict[int, float] = {}
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                times[int(tid)] = int(f.read().split()[0]) / 1e9
        except FileNotFoundError:
            continue  # the thread ended while we listed the others
        except (OSError, ValueError, IndexError):
            return None
    return times or None


class AppServer:
    """One waitress process serving ``bench_app``.

    ``otel`` holds the ``OTEL_*`` variables of an ``opentelemetry-instrument`` run
    (metrics and logs exporters default to ``none``); ``None`` runs the app plain,
    without OpenTelemetry at all.
    """

    def __init__(self, name: str, workdir: Path, otel: Mapping[str, str] | None) -> None:
        self.name = name
        self.port = free_port()
        self.base = f"http://{LOOPBACK}:{self.port}"
        self.log_path = workdir / f"{name}.log"
        self.spool = workdir / f"spool-{name}"
        cmd = [venv_bin("waitress-serve"), f"--listen={LOOPBACK}:{self.port}", f"--threads={THREADS}", "bench_app:app"]
        env = {
            "PYTHONPATH": os.pathsep.join(p for p in (str(BENCH_DIR), os.environ.get("PYTHONPATH")) if p),
            "BENCH_APP_DB": str(workdir / f"{name}.sqlite"),
        }
        if otel is not None:
            cmd.insert(0, venv_bin("opentelemetry-instrument"))
            env.update(
                {
                    "OTEL_SERVICE_NAME": "bench-app",
                    "OTEL_METRICS_EXPORTER": "none",
                    "OTEL_LOGS_EXPORTER": "none",
                    "OTEL_EXPORTER_DISCORD_SPOOL_DIR": str(self.spool),
                    **otel,
                }
            )
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            cmd, cwd=BENCH_DIR, env=child_env(env), stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.ps = psutil.Process(self.proc.pid)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app {self.name} exited: {self.log_path.read_text()[-1500:]}")
            try:
                if requests.get(f"{self.base}/ok", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"app {self.name} did not answer within {timeout} s")

    def cpu(self) -> float:
        """CPU seconds the app has used, all its threads together."""
        times = self.ps.cpu_times()
        return times.user + times.system

    def sample(self) -> CPUSample:
        """The CPU time of every live thread of the app, and of the process."""
        process = self.cpu()
        threads = _schedstat(self.proc.pid)
        if threads is not None:
            return CPUSample(threads, process, "schedstat")
        return CPUSample({t.id: t.user_time + t.system_time for t in self.ps.threads()}, process, "psutil")

    def thread_names(self) -> dict[int, str]:
        """Native thread id → name of the app's live Python threads (``bench_app``'s ``/_threads``)."""
        answer = requests.get(f"{self.base}/_threads", timeout=10)
        answer.raise_for_status()
        return {int(tid): name for tid, name in answer.json().items()}

    def flush_telemetry(self) -> None:
        """Export what the SDK's batch processors hold, on the app's flush thread (``bench_app``'s ``/_flush``)."""
        answer = requests.post(f"{self.base}/_flush", timeout=60)
        if answer.status_code != 200:
            raise RuntimeError(f"app {self.name} could not flush its telemetry: {answer.text[:300]}")

    def dropped_notices(self) -> int:
        """Lines in the fallback log: notices otel-discord dropped (counted, not delivered)."""
        try:
            with open(self.spool / "dropped.jsonl", "rb") as f:
                return sum(1 for _ in f)
        except OSError:
            return 0

    def stop(self) -> None:
        # Killed, not shut down gracefully: a graceful exit would spend up to 30 s flushing
        # a rate-limited backlog, and nothing after the measurement matters here.
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()
