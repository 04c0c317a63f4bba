"""The benchmark app (``bench_app``) served by waitress in a subprocess, with or without OpenTelemetry."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path

import psutil
import requests

from benchlib import BENCH_DIR, LOOPBACK, child_env, free_port, venv_bin

THREADS = 4


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
        cmd = [venv_bin("waitress-serve"), f"--listen={LOOPBACK}:{self.port}", f"--threads={THREADS}",
               "bench_app:app"]
        env = {
            "PYTHONPATH": os.pathsep.join(p for p in (str(BENCH_DIR), os.environ.get("PYTHONPATH")) if p),
            "BENCH_APP_DB": str(workdir / f"{name}.sqlite"),
        }
        if otel is not None:
            cmd.insert(0, venv_bin("opentelemetry-instrument"))
            env.update({
                "OTEL_SERVICE_NAME": "bench-app",
                "OTEL_METRICS_EXPORTER": "none",
                "OTEL_LOGS_EXPORTER": "none",
                "OTEL_EXPORTER_DISCORD_SPOOL_DIR": str(self.spool),
                **otel,
            })
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, cwd=BENCH_DIR, env=child_env(env), stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
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
