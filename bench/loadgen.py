"""A closed-loop HTTP load generator: N threads, one ``requests.Session`` each, for a fixed time.

Run in its own process (``python bench/loadgen.py worker URL ...``) so that its CPU
use is not mixed with the sinks of the runner. Each thread sends requests back to
back, choosing the path from a weighted mix with a seeded RNG, so every
configuration gets the same request sequence. Prints one JSON line: throughput,
latency percentiles (all requests and ``/ok`` alone) and unexpected answers.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from typing import Any, Final

import requests
from benchlib import emit, percentile

#: path → (weight, expected status). /boom answers 500 by design.
MIX: Final = {"/ok": (90, 200), "/boom": (5, 500), "/slow": (5, 200)}


def _worker(base: str, deadline: float, seed: int, paths: list[str], out: dict[str, Any]) -> None:
    rng = random.Random(seed)
    weights = [MIX[p][0] for p in paths]
    latencies: dict[str, list[float]] = {p: [] for p in paths}
    unexpected = 0
    with requests.Session() as session:
        while True:
            now = time.perf_counter()
            if now >= deadline:
                break
            path = rng.choices(paths, weights)[0]
            try:
                answer = session.get(f"{base}{path}", params={"id": rng.randrange(10_000)}, timeout=10)
                status = answer.status_code
                answer.content  # noqa: B018 - read the body, as a client would
            except requests.RequestException:
                status = None
            done = time.perf_counter()
            if status != MIX[path][1]:
                unexpected += 1
                continue
            latencies[path].append(done - now)
    out["latencies"] = latencies
    out["unexpected"] = unexpected


def run(base: str, duration: float, concurrency: int, seed: int, paths: list[str] | None = None) -> dict[str, Any]:
    start = time.perf_counter()
    deadline = start + duration
    results: list[dict[str, Any]] = [{} for _ in range(concurrency)]
    threads = [
        threading.Thread(
            target=_worker, args=(base, deadline, seed * 1000 + i, paths or list(MIX), results[i]), daemon=True
        )
        for i in range(concurrency)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(duration + 30)
    elapsed = time.perf_counter() - start
    everything = [lat for r in results for lats in r.get("latencies", {}).values() for lat in lats]
    ok = [lat for r in results for lat in r.get("latencies", {}).get("/ok", [])]
    by_path = {p: sum(len(r.get("latencies", {}).get(p, [])) for r in results) for p in MIX}
    ms = 1000.0
    return {
        "requests": len(everything),
        "elapsed": elapsed,
        "rps": len(everything) / elapsed if elapsed > 0 else 0.0,
        "by_path": by_path,
        "unexpected": sum(r.get("unexpected", 0) for r in results),
        "p50_ms": percentile(everything, 50) * ms,
        "p99_ms": percentile(everything, 99) * ms,
        "ok_p50_ms": percentile(ok, 50) * ms,
        "ok_p99_ms": percentile(ok, 99) * ms,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("role", choices=["worker"])
    parser.add_argument("base")
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--paths", help="comma-separated subset of the mix, e.g. /ok (default: all)")
    args = parser.parse_args(argv)
    paths = [p for p in args.paths.split(",") if p in MIX] if args.paths else None
    emit(run(args.base, args.duration, args.concurrency, args.seed, paths))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
