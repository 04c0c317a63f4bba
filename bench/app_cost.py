"""§1 Cost to the app: throughput and latency of a Flask + SQLAlchemy app under load, per configuration.

Five copies of ``bench_app`` run side by side under waitress (a real WSGI server):
plain (no OpenTelemetry) and under ``opentelemetry-instrument`` with
``OTEL_TRACES_EXPORTER`` = ``none`` / ``otlp`` / ``discord`` / ``otlp,discord``
(metrics and logs exporters ``none``). The load generator drives one at a time,
mostly ``/ok`` with some ``/boom`` (errors → notices) and ``/slow`` (slow-query
notices); the order of configurations rotates every repetition so drift on a
shared, noisy machine hits all of them alike. Ratios are taken within a
repetition (the runs closest in time), then summarized across repetitions.

Besides requests/s, the app process's CPU time per request is reported: it
counts every thread of the app, the SDK's batch thread and our delivery thread
included. Capacity, 1 / (CPU per request), is what a saturated machine of one's
own could serve; unlike requests/s on a shared machine, it does not move much
with whatever else runs there, so both are judged against the targets.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Final

from app_server import AppServer
from benchlib import Mode, metric, run_worker
from otel_discord.testing import DiscordServer
from otlp_sink import OTLPSink

TITLE: Final = "1. Cost to the app"
#: configuration → OTEL_TRACES_EXPORTER (None: no OpenTelemetry at all)
CONFIGS: Final = {
    "no-otel": None,
    "sdk-none": "none",
    "otlp": "otlp",
    "otel-discord": "discord",
    "otlp+otel-discord": "otlp,discord",
}
BASELINE: Final = "sdk-none"
TARGET_VS_SDK: Final = 0.97  # otel-discord costs ≤ 3 % throughput against the SDK without exporter
SLOW_QUERY_MS: Final = "40"  # /slow's query waits 60 ms; /ok's lookups stay far below, even on a busy machine
CONCURRENCY: Final = 4


def _load(app: AppServer, duration: float, seed: int) -> dict[str, Any]:
    before = app.cpu()
    result = run_worker("loadgen", [app.base, "--duration", str(duration), "--concurrency", str(CONCURRENCY),
                                    "--seed", str(seed)], timeout=duration + 60)
    result["cpu_s"] = app.cpu() - before
    result["cpu_ms_per_request"] = 1000 * result["cpu_s"] / max(1, result["requests"])
    return result


def _order(rep: int) -> list[str]:
    """Rotate, and reverse every other repetition: each configuration visits every slot."""
    names = list(CONFIGS)
    shift = rep % len(names)
    names = names[shift:] + names[:shift]
    return names[::-1] if rep % 2 else names


def run(mode: Mode) -> dict[str, Any]:
    reps = mode.pick(2, 5)
    duration = mode.pick(1.5, 3.0)
    warmup = mode.pick(0.5, 1.5)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp, DiscordServer() as discord, OTLPSink() as sink:
        workdir = Path(tmp)
        hooks = {name: discord.create_webhook(f"s1-{name}") for name in CONFIGS if CONFIGS[name]}
        apps: dict[str, AppServer] = {}
        try:
            for name, exporter in CONFIGS.items():
                otel = None if exporter is None else {
                    "OTEL_TRACES_EXPORTER": exporter,
                    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{sink.endpoint}/v1/traces",
                    "OTEL_EXPORTER_DISCORD_WEBHOOK_URL": hooks[name].url if name in hooks else "",
                    "OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS": discord.host_port,
                    "OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS": SLOW_QUERY_MS,
                }
                apps[name] = AppServer(name, workdir, otel)
            for app in apps.values():
                app.wait_ready(90)
            for i, app in enumerate(apps.values()):
                _load(app, warmup, seed=900 + i)
            for rep in range(reps):
                for name in _order(rep):
                    runs[name].append(_load(apps[name], duration, seed=rep + 1))
            delivered = {name: len(discord.messages(f"s1-{name}")) for name in hooks}
            dropped = {name: apps[name].dropped_notices() for name in hooks}
        finally:
            for app in apps.values():
                app.stop()
        server_stats = discord.stats()
        sink_counts = sink.counts()
    return _report(runs, reps, duration, delivered, dropped, server_stats, sink_counts)


def _ratios(runs: dict[str, list[dict[str, Any]]], key: str, num: str, den: str) -> list[float]:
    return [a[key] / b[key] for a, b in zip(runs[num], runs[den]) if b[key]]


def _verdict(name: str, values: list[float], target: float, strict: bool = False) -> dict[str, Any]:
    """A ratio row judged on its median; says so when the spread straddles the target."""
    middle = _median(values)
    passed = middle > target if strict else middle >= target
    note = None
    if values and min(values) < target <= max(values):
        note = "the spread straddles the target: not conclusive on this (shared) machine"
    return metric(name, "ratio", values, target=f"{'>' if strict else '≥'} {target:g}", passed=passed, note=note)


def _report(runs, reps, duration, delivered, dropped, server_stats, sink_counts) -> dict[str, Any]:
    rows = []
    for name in CONFIGS:
        ratio = _ratios(runs, "rps", name, BASELINE)
        rows.append(metric(f"throughput {name}", "req/s", [r["rps"] for r in runs[name]],
                           ratio=f"×{_median(ratio):.3f} vs {BASELINE}" if ratio else None))
    for name in CONFIGS:
        cpu_ratio = _ratios(runs, "cpu_ms_per_request", name, BASELINE)
        rows.append(metric(f"app CPU per request {name}", "ms", [r["cpu_ms_per_request"] for r in runs[name]],
                           headline=name != "no-otel",
                           ratio=f"×{_median(cpu_ratio):.3f} vs {BASELINE}" if cpu_ratio else None))
    # Capacity: what a saturated, dedicated machine could serve is inversely proportional to the
    # CPU per request; unlike requests/s it does not move with whatever else the machine runs.
    rows.append(_verdict("otel-discord / sdk-none throughput", _ratios(runs, "rps", "otel-discord", BASELINE),
                         TARGET_VS_SDK))
    rows.append(_verdict("otel-discord / sdk-none capacity (1 / CPU per request)",
                         _ratios(runs, "cpu_ms_per_request", BASELINE, "otel-discord"), TARGET_VS_SDK))
    rows.append(_verdict("otel-discord / otlp throughput", _ratios(runs, "rps", "otel-discord", "otlp"), 1.0,
                         strict=True))
    rows.append(_verdict("otel-discord / otlp capacity (1 / CPU per request)",
                         _ratios(runs, "cpu_ms_per_request", "otlp", "otel-discord"), 1.0, strict=True))
    rows.append(metric("otlp+otel-discord / otlp capacity", "ratio",
                       _ratios(runs, "cpu_ms_per_request", "otlp", "otlp+otel-discord"),
                       note="what adding otel-discord to an OTLP setup costs"))
    for name in CONFIGS:
        rows.append(metric(f"latency p50 {name}", "ms", [r["p50_ms"] for r in runs[name]],
                           ratio=f"p99 {_median([r['p99_ms'] for r in runs[name]]):.0f} ms"))
    rate_limited = sum(server_stats["rate_limited"].values())
    rows.append(metric("Discord 429 answers during the load", "count", rate_limited, target="0",
                       passed=rate_limited == 0))
    return {
        "title": TITLE,
        "config": {
            "repetitions": reps, "seconds_per_run": duration, "concurrency": CONCURRENCY,
            "mix": {"/ok": 90, "/boom": 5, "/slow": 5}, "server": "waitress, 4 threads",
            "load_generator": "python threads + requests.Session (wrk not used)",
            "slow_query_ms": float(SLOW_QUERY_MS), "configs": CONFIGS,
        },
        "metrics": rows,
        "raw": {
            "runs": runs,
            "discord_messages": delivered,
            "notices_dropped": dropped,
            "discord_server": server_stats,
            "otlp_sink": sink_counts,
        },
    }


def _median(values: list[float]) -> float:
    from statistics import median

    return median(values) if values else float("nan")
