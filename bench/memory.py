"""§4 Memory under flood: peak RSS while a million spans go through a ``BatchSpanProcessor``.

One fresh process per configuration pushes spans as fast as it can (one thread,
like a busy app): 98% ordinary request spans, 2% failed requests, each failure
on its own route (distinct errors: nothing to group). Two configurations, side by
side: the SDK's batch processor with a no-op exporter (the baseline: the same
2,048-span queue, nothing done with the spans) and with ``DiscordSpanExporter``
in its default configuration, delivering to the strict local Discord (Discord's
limits, so nearly every notice has to wait: in the bounded in-memory inbox, the
spool on disk, or held for a digest).

The runner samples each process's RSS with psutil every 20 ms; the process adds
its exact peak (``ru_maxrss``) and its RSS at each tenth of the flood. Memory is
bounded by the queues, not by the flood, when the second half of the flood adds
(almost) nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Final

import psutil
from benchlib import BENCH_DIR, PYTHON, Mode, child_env, emit, letters_route, metric

from otel_discord.testing import DiscordServer

TITLE: Final = "4. Memory under flood"
CONFIGS: Final = ("bsp-noop", "bsp-otel-discord")
ERROR_EVERY: Final = 50  # 2% of the spans are failed requests
#: Growth over the flood's second half that still counts as flat: allocator noise, not the flood.
FLAT_MIB: Final = 8.0
MIB: Final = 2**20


def _rss() -> int:
    return psutil.Process().memory_info().rss


def worker(args: argparse.Namespace) -> dict[str, Any]:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    from opentelemetry.trace import SpanKind, Status, StatusCode

    provider = TracerProvider(resource=Resource.create({"service.name": "ozark-finances"}), shutdown_on_exit=False)
    exported = [0]
    if args.config == "bsp-noop":  # the baseline: the SDK's batch queue, an exporter that does nothing

        class Noop(SpanExporter):
            def export(self, spans):  # type: ignore[no-untyped-def]
                exported[0] += len(spans)
                return SpanExportResult.SUCCESS

        provider.add_span_processor(BatchSpanProcessor(Noop()))
    elif args.config == "bsp-otel-discord":
        from otel_discord.exporters import DiscordSpanExporter

        exporter = DiscordSpanExporter(webhook_url=args.url, allowed_hosts=args.host_port, spool_dir=args.spool)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("bench.memory")
    try:
        raise ValueError("invalid amount '12,50 EUR' in column 'amount'")
    except ValueError as exc:
        failure = exc

    baseline = _rss()
    checkpoints = []
    tenth = max(1, args.count // 10)
    start = time.monotonic()
    for i in range(args.count):
        error = i % ERROR_EVERY == 0
        route = letters_route(i) if error else "/invoices/<int:id>"
        span = tracer.start_span(
            f"GET {route}",
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": "GET",
                "http.route": route,
                "url.path": f"/invoices/{i}",
                "http.response.status_code": 500 if error else 200,
            },
        )
        if error:
            span.record_exception(failure)
            span.set_status(Status(StatusCode.ERROR))
        span.end()
        if (i + 1) % tenth == 0:
            checkpoints.append(_rss())
    elapsed = time.monotonic() - start
    spool_bytes = sum(f.stat().st_size for f in Path(args.spool).rglob("*") if f.is_file())
    return {
        "spool_bytes": spool_bytes,
        "baseline_rss": baseline,
        "checkpoints": checkpoints,
        "elapsed": elapsed,
        "spans_per_s": args.count / elapsed,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "exported_by_noop": exported[0],
    }


def _spawn(config: str, count: int, url: str, host_port: str, spool: str, errors: Any) -> subprocess.Popen[str]:
    cmd = [
        PYTHON,
        str(BENCH_DIR / "memory.py"),
        "worker",
        config,
        "--count",
        str(count),
        "--url",
        url,
        "--host-port",
        host_port,
        "--spool",
        spool,
    ]
    # stderr to a file: polled, not read, until the end, a pipe could fill up and block the worker
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True, env=child_env(), cwd=str(BENCH_DIR))


def run(mode: Mode) -> dict[str, Any]:
    count = mode.pick(50_000, 1_000_000)
    results: dict[str, dict[str, Any]] = {}
    with DiscordServer() as discord, tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        hook = discord.create_webhook("s4-memory")
        logs = {config: open(os.path.join(tmp, f"{config}.err"), "w+") for config in CONFIGS}  # noqa: SIM115
        # Side by side: RSS does not depend on who else runs, and it halves the wait.
        procs = {
            config: _spawn(config, count, hook.url, discord.host_port, os.path.join(tmp, config), logs[config])
            for config in CONFIGS
        }
        sampled = {config: 0 for config in CONFIGS}
        handles = {config: psutil.Process(proc.pid) for config, proc in procs.items()}
        deadline = time.monotonic() + mode.pick(120, 600)
        while any(proc.poll() is None for proc in procs.values()) and time.monotonic() < deadline:
            for config, handle in handles.items():
                try:
                    sampled[config] = max(sampled[config], handle.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.02)
        for config, proc in procs.items():
            if proc.poll() is None:
                proc.kill()
            out, _ = proc.communicate(timeout=30)
            lines = [line for line in out.splitlines() if line.startswith("{")]
            logs[config].seek(0)
            err = logs[config].read()
            logs[config].close()
            if proc.returncode != 0 or not lines:
                raise RuntimeError(f"memory worker {config} failed (exit {proc.returncode}): {err[-2000:]}")
            results[config] = json.loads(lines[-1]) | {"sampled_peak_rss": sampled[config]}
        delivered = len(discord.messages("s4-memory"))
    return _report(results, count, delivered)


def _report(results: dict[str, dict[str, Any]], count: int, delivered: int) -> dict[str, Any]:
    rows = []
    for config in CONFIGS:
        r = results[config]
        peak = max(r["peak_rss"], r["sampled_peak_rss"])
        rows.append(
            metric(
                f"peak RSS {config}",
                "MiB",
                peak / MIB,
                ratio=f"+{(peak - r['baseline_rss']) / MIB:.1f} MiB over the process before the flood",
                note=f"{r['spans_per_s']:,.0f} spans/s pushed; {r['spool_bytes'] / MIB:.1f} MiB on disk",
            )
        )
    ours, noop = results["bsp-otel-discord"], results["bsp-noop"]
    extra = (max(ours["peak_rss"], ours["sampled_peak_rss"]) - max(noop["peak_rss"], noop["sampled_peak_rss"])) / MIB
    rows.append(
        metric(
            "otel-discord extra peak vs bsp-noop",
            "MiB",
            extra,
            headline=True,
            note="detector state, inbox, engine and spool caches",
        )
    )
    for config in ("bsp-noop", "bsp-otel-discord"):
        points = results[config]["checkpoints"]
        half = len(points) // 2 - 1
        growth = (points[-1] - points[half]) / MIB if len(points) >= 2 else float("nan")
        rows.append(
            metric(
                f"RSS growth over the 2nd half, {config}",
                "MiB",
                growth,
                target=f"≤ {FLAT_MIB:.0f} MiB",
                passed=growth <= FLAT_MIB,
                ratio="bounded by the queues, not by the flood",
            )
        )
    return {
        "title": TITLE,
        "config": {
            "spans": count,
            "error_share": 1 / ERROR_EVERY,
            "bsp": "SDK defaults (queue 2,048, batch 512)",
            "delivery_queue": "default (10,000)",
        },
        "metrics": rows,
        "raw": {"results": results, "discord_messages": delivered},
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["worker"])
    parser.add_argument("config", choices=CONFIGS)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--host-port", required=True)
    parser.add_argument("--spool", required=True)
    emit(worker(parser.parse_args(argv)))
    sys.stdout.flush()
    os._exit(0)  # no teardown: a graceful shutdown would try to deliver the backlog for 30 s


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
