"""Shared helpers of the benchmark suite: statistics, result rows, subprocess workers, the machine.

Every section module exposes ``run(mode) -> dict`` (executed by ``run.py``) and,
when it measures inside a fresh process, a ``worker`` entry run as
``python bench/<module>.py worker ...`` that prints one JSON object as its last
stdout line. Fresh processes keep the measurements apart: each has its own
OpenTelemetry SDK, its own delivery engine and its own peak RSS.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

BENCH_DIR: Final = Path(__file__).resolve().parent
ROOT: Final = BENCH_DIR.parent
PYTHON: Final = sys.executable
LOOPBACK: Final = "127.0.0.1"


@dataclass(frozen=True)
class Mode:
    """Sizes of one run: ``quick`` for CI (≤ ~90 s), ``full`` for the README (≤ ~9 min)."""

    name: str

    @property
    def quick(self) -> bool:
        return self.name == "quick"

    def pick(self, quick: Any, full: Any) -> Any:
        return quick if self.quick else full


# --------------------------------------------------------------------------- statistics


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) with linear interpolation, as numpy's default."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100.0
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize(samples: Sequence[float]) -> dict[str, Any]:
    """Median, min, max and the interquartile range of repeated measurements."""
    values = [float(v) for v in samples if v is not None and v == v]
    if not values:
        return {"n": 0, "median": None, "min": None, "max": None, "p25": None, "p75": None, "samples": []}
    return {
        "n": len(values),
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "p25": percentile(values, 25),
        "p75": percentile(values, 75),
        "samples": values,
    }


def metric(
    name: str,
    unit: str,
    samples: Sequence[float] | float | None,
    *,
    target: str | None = None,
    passed: bool | None = None,
    ratio: str | None = None,
    note: str | None = None,
    headline: bool | None = None,
) -> dict[str, Any]:
    """One row of the results table: a measured value with its spread and verdict.

    ``passed`` is None for rows that are informative only (no target), and for
    targets that could not be evaluated (the row says why in ``note``). Headline
    rows (by default those with a target) make the README's short table.
    """
    if samples is None:
        values: list[float] = []
    elif isinstance(samples, (int, float)):
        values = [float(samples)]
    else:
        values = list(samples)
    row = {"name": name, "unit": unit, **summarize(values)}
    row.update(
        {
            "target": target,
            "passed": passed,
            "ratio": ratio,
            "note": note,
            "headline": bool(target) if headline is None else headline,
        }
    )
    return row


def na_metric(name: str, note: str, target: str | None = None) -> dict[str, Any]:
    """A row for something that could not be measured in this build (e.g. a feature not merged yet)."""
    return metric(name, "", None, target=target, passed=None, note=note)


def letters_route(i: int) -> str:
    """A route per index that digit-normalising fingerprints cannot merge: /reports/bba, /reports/bbb, ..."""
    letters = ""
    i += 26 * 26
    while i:
        i, r = divmod(i, 26)
        letters = "abcdefghijklmnopqrstuvwxyz"[r] + letters
    return f"/reports/{letters}"


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def venv_bin(name: str) -> str:
    """A console script of the running interpreter's environment (``opentelemetry-instrument``...)."""
    return str(Path(PYTHON).with_name(name))


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a benchmark subprocess: ours, minus OTEL_* leaking in from the shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PATH"] = f"{Path(PYTHON).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def run_worker(module: str, args: Sequence[str], *, timeout: float, env: Mapping[str, str] | None = None) -> dict:
    """Run ``bench/<module>.py worker <args>`` and return the JSON object it printed last."""
    cmd = [PYTHON, str(BENCH_DIR / f"{module}.py"), "worker", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=child_env(env), cwd=str(BENCH_DIR))
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"{module} worker failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(lines[-1])


def emit(result: Mapping[str, Any]) -> None:
    """A worker's answer: one JSON line on stdout."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


# --------------------------------------------------------------------------- the machine


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine_info() -> dict[str, Any]:
    """What the numbers depend on: cores, CPU, RAM, Python, load, and the code measured."""
    import psutil

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "nproc": cores,
        "cpu_model": _cpu_model(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "git_commit": _git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(status) if status is not None else None,
    }


def package_versions() -> dict[str, str]:
    from importlib import metadata

    names = (
        "otel-discord",
        "opentelemetry-sdk",
        "opentelemetry-instrumentation-flask",
        "flask",
        "sqlalchemy",
        "waitress",
        "requests",
    )
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions
