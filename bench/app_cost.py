"""§1 Cost to the app: throughput and CPU of a Flask + SQLAlchemy app under load, per configuration.

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
own could serve. On this shared machine both move ±15 % between repetitions (for
every exporter alike), five times the "≤ 3 % against the SDK without exporter"
target, so they are reported, and the targets are judged on the threads below:
the CPU otel-discord's threads add per request, as a share of the app's CPU per
request without an exporter (a CPU-bound server loses that share of throughput).
What telemetry costs on other threads (a garbage collection its allocations
trigger, caches it evicts) is not in that share; the whole-process rows hold it,
within their noise.

Two exporters differ only in the threads that export, and on a shared machine
the whole process's CPU per request moves about ±10 % from run to run: more
than that difference. So the CPU is also read thread by thread (``app_server``:
Linux's per-thread run time, in ns) and split into request threads (waitress's
workers) and telemetry threads (the SDK's batch processor thread, which calls
``export()``, otel-discord's spool and delivery threads, the benchmark's flush
thread: everything but the workers and waitress's socket loop). After each run
the app exports what the run left queued (``/_flush``), so every span of a run
is exported inside its window. "Costs less than the OTLP exporter" is judged on
the telemetry threads' CPU per request, otel-discord / otlp per repetition; the
whole-process capacity ratio against OTLP corroborates it (info). Costs that
telemetry causes elsewhere (a garbage collection its allocations trigger runs on
whichever thread allocates) stay in the request threads' and whole-process rows.
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any, Final

from app_server import AppServer, split_cpu
from benchlib import Mode, metric, run_worker
from otlp_sink import OTLPSink

from otel_discord.testing import DiscordServer

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
    names = app.thread_names()
    before = app.sample()
    result = run_worker(
        "loadgen",
        [app.base, "--duration", str(duration), "--concurrency", str(CONCURRENCY), "--seed", str(seed)],
        timeout=duration + 60,
    )
    # What the run left in the batch processors' queues is exported now, inside the window:
    # otherwise up to a batch (512 spans) of the run's exporting would fall outside it, at random.
    app.flush_telemetry()
    after = app.sample()
    names.update(app.thread_names())  # threads that started during the run are named only now
    split = split_cpu(before, after, names, app.proc.pid)
    if result["requests"] and split.request <= 0:  # waitress renamed its workers? then every split is wrong
        raise RuntimeError(
            f"app {app.name}: no CPU on waitress worker threads; threads seen: {sorted(set(names.values()))}"
        )
    served = max(1, result["requests"])
    result["cpu_s"] = after.process - before.process
    result["cpu_ms_per_request"] = 1000 * result["cpu_s"] / served
    result["telemetry_us_per_request"] = 1e6 * split.telemetry / served
    result["request_us_per_request"] = 1e6 * split.request / served
    result["main_us_per_request"] = 1e6 * split.main / served
    result["threads"] = {"clock": after.clock, **asdict(split)}
    return result


def _order(rep: int) -> list[str]:
    """Rotate, and reverse every other repetition: each configuration visits every slot."""
    names = list(CONFIGS)
    shift = rep % len(names)
    names = names[shift:] + names[:shift]
    return names[::-1] if rep % 2 else names


def run(mode: Mode) -> dict[str, Any]:
    reps = mode.pick(2, 8)  # the whole-process ratios move ±10 % per run here: more runs, a steadier median
    duration = mode.pick(1.5, 3.0)
    warmup = mode.pick(0.5, 1.5)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="bench-app-") as tmp, DiscordServer() as discord, OTLPSink() as sink:
        workdir = Path(tmp)
        hooks = {name: discord.create_webhook(f"s1-{name}") for name in CONFIGS if CONFIGS[name]}
        apps: dict[str, AppServer] = {}
        try:
            for name, exporter in CONFIGS.items():
                otel = (
                    None
                    if exporter is None
                    else {
                        "OTEL_TRACES_EXPORTER": exporter,
                        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{sink.endpoint}/v1/traces",
                        "OTEL_EXPORTER_DISCORD_WEBHOOK_URL": hooks[name].url if name in hooks else "",
                        "OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS": discord.host_port,
                        "OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS": SLOW_QUERY_MS,
                    }
                )
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


def _verdict(name: str, values: list[float], target: float, op: str = "≥") -> dict[str, Any]:
    """A ratio row judged on its median (``op``: ≥, > or <); says so when the spread straddles the target."""
    middle = _median(values)
    passed = {"≥": middle >= target, ">": middle > target, "<": middle < target}[op]
    note = None
    if values and min(values) < target <= max(values):
        note = "the spread straddles the target: not conclusive on this (shared) machine"
    return metric(name, "ratio", values, target=f"{op} {target:g}", passed=passed, note=note)


def _context(name: str, values: list[float], wanted: str) -> dict[str, Any]:
    """A whole-process ratio shown beside the judged per-thread rows, with how far it moves."""
    return metric(
        name,
        "ratio",
        values,
        ratio=wanted,
        note="whole process, info: on this shared machine it moves about ±15 % between repetitions "
        "(otlp's alike), more than the effect; judged on the telemetry threads' CPU instead",
    )


def _per_config(
    runs: dict[str, list[dict[str, Any]]], label: str, key: str, unit: str, against: str, headline: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """One row per configuration, with its median ratio to ``against`` taken within each repetition."""
    rows = []
    for name in CONFIGS:
        ratio = _ratios(runs, key, name, against)
        rows.append(
            metric(
                f"{label} {name}",
                unit,
                [r[key] for r in runs[name]],
                headline=name in headline,
                ratio=f"×{_median(ratio):.3f} vs {against}" if ratio else None,
            )
        )
    return rows


def _report(runs, reps, duration, delivered, dropped, server_stats, sink_counts) -> dict[str, Any]:
    with_otel = tuple(name for name in CONFIGS if CONFIGS[name])
    rows = _per_config(runs, "throughput", "rps", "req/s", BASELINE)
    rows += _per_config(runs, "app CPU per request", "cpu_ms_per_request", "ms", BASELINE, headline=with_otel)
    rows += _per_config(runs, "request threads' CPU per request", "request_us_per_request", "µs", BASELINE)
    rows += _per_config(
        runs, "telemetry threads' CPU per request", "telemetry_us_per_request", "µs", "otlp", headline=with_otel
    )
    # Capacity: what a saturated, dedicated machine could serve is inversely proportional to the
    # CPU per request; unlike requests/s it does not move with whatever else the machine runs.
    # Whole-process ratios are reported, not judged: the same ratio for otlp moves as much (0.87–1.33
    # per repetition in one run here) as a 3 % target is small; the rows below measure the cost itself.
    rows.append(
        _context(
            "otel-discord / sdk-none throughput",
            _ratios(runs, "rps", "otel-discord", BASELINE),
            f"≥ {TARGET_VS_SDK:g} wanted",
        )
    )
    rows.append(
        _context(
            "otel-discord / sdk-none capacity (1 / CPU per request)",
            _ratios(runs, "cpu_ms_per_request", BASELINE, "otel-discord"),
            f"≥ {TARGET_VS_SDK:g} wanted",
        )
    )
    # The precise form of "≤ 3 %": what otel-discord's threads add per request, as a share of what the
    # app spends per request without an exporter (a CPU-bound server loses that share of throughput).
    added = [
        (d["telemetry_us_per_request"] - n["telemetry_us_per_request"]) / (1000 * n["cpu_ms_per_request"])
        for d, n in zip(runs["otel-discord"], runs[BASELINE])
        if n["cpu_ms_per_request"]
    ]
    rows.append(
        metric(
            "otel-discord's threads' added CPU / sdk-none's CPU per request",
            "ratio",
            added,
            target=f"≤ {1 - TARGET_VS_SDK:.2f}",
            passed=bool(added) and _median(added) <= 1 - TARGET_VS_SDK,
            headline=True,
            note="the exporter's own cost, read thread by thread: steadier than requests/s or whole-"
            "process CPU, which move ±10 % from run to run here",
        )
    )
    rows.append(_context("otel-discord / otlp throughput", _ratios(runs, "rps", "otel-discord", "otlp"), "> 1 wanted"))
    # Two exporters differ only in the threads that export; the whole process's CPU per request moves
    # ±10 % from run to run here, more than that difference, so "< OTLP" is judged on those threads.
    rows.append(
        _verdict(
            "otel-discord / otlp telemetry threads' CPU per request",
            _ratios(runs, "telemetry_us_per_request", "otel-discord", "otlp"),
            1.0,
            op="<",
        )
    )
    rows.append(
        metric(
            "otel-discord / otlp capacity (1 / CPU per request)",
            "ratio",
            _ratios(runs, "cpu_ms_per_request", "otlp", "otel-discord"),
            ratio="> 1: otel-discord cheaper",
            note="info, corroborating the telemetry-thread row: whole-process CPU per request moves "
            "about ±10 % from run to run on this shared machine, more than two exporters differ",
        )
    )
    exporting = [
        o["telemetry_us_per_request"] - n["telemetry_us_per_request"] for o, n in zip(runs["otlp"], runs[BASELINE])
    ]
    rows.append(
        metric(
            "telemetry threads' CPU per request, otlp − sdk-none",
            "µs",
            exporting,
            target="> 0 in every run",
            passed=bool(exporting) and min(exporting) > 0,
            note="the OTLP exporter's work shows in the telemetry threads (sdk-none has no exporter)",
        )
    )
    rows.append(
        metric(
            "otlp+otel-discord / otlp telemetry threads' CPU per request",
            "ratio",
            _ratios(runs, "telemetry_us_per_request", "otlp+otel-discord", "otlp"),
            note="what adding otel-discord to an OTLP setup costs its exporting threads",
        )
    )
    rows.append(
        metric(
            "otlp+otel-discord / otlp capacity",
            "ratio",
            _ratios(runs, "cpu_ms_per_request", "otlp", "otlp+otel-discord"),
            note="what adding otel-discord to an OTLP setup costs",
        )
    )
    for name in CONFIGS:
        rows.append(
            metric(
                f"latency p50 {name}",
                "ms",
                [r["p50_ms"] for r in runs[name]],
                ratio=f"p99 {_median([r['p99_ms'] for r in runs[name]]):.0f} ms",
            )
        )
    rate_limited = sum(server_stats["rate_limited"].values())
    rows.append(
        metric("Discord 429 answers during the load", "count", rate_limited, target="0", passed=rate_limited == 0)
    )
    return {
        "title": TITLE,
        "config": {
            "repetitions": reps,
            "seconds_per_run": duration,
            "concurrency": CONCURRENCY,
            "mix": {"/ok": 90, "/boom": 5, "/slow": 5},
            "server": "waitress, 4 threads",
            "load_generator": "python threads + requests.Session (wrk not used)",
            "slow_query_ms": float(SLOW_QUERY_MS),
            "configs": CONFIGS,
            "thread_clock": next((r["threads"]["clock"] for rs in runs.values() for r in rs), None),
            "threads": {
                "request": "waitress-N (waitress's workers)",
                "main": "MainThread (waitress's socket loop)",
                "telemetry": "every other thread: the SDK's batch processors, otel-discord's, the flush",
            },
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
