"""§3 Delivery under flood: how fast a flood reaches Discord, against the ceiling Discord's limits allow.

Every flood goes through the real ``DiscordSpanExporter`` in a fresh process into
the strict local Discord, which enforces Discord's limits (5 requests per window
per webhook, 30 messages per window per channel); each runs with the routing's
per-channel rate cap off (``RATE_CAP=0``) and on (the default).

* **distinct**: 10,000 different errors (each its own route and trace) in one
  minute. Delivery is bound by Discord's limits, and at Discord's real windows
  would take hours, so the server's windows, the engine's channel budget and the
  minute are all divided by ``SCALE``. Spans are handed to ``export()`` directly,
  in batches of 512, so every notice reaches the engine. Compared with the
  **ceiling**: the earliest an ideal client could have delivered the same
  embeds, packed as tightly as Discord allows (≤ 10 embeds, ≤ 6,000 characters,
  no url twice per message), under the same limits, never before each notice
  existed.
* **repeats**: 100,000 occurrences of one error (each its own trace) in one real
  minute, through the SDK's ``BatchSpanProcessor`` as an app would produce them.
  Grouping folds repeats into one message edited on a real-time interval, so
  nothing is scaled here; the SDK drops what the export thread cannot keep up with.

What counts as delivered is read from the server: an embed stands for one notice,
for ``×N`` notices when its Seen field says so (a group), and for ``N`` when it is
a digest ("Digest: N notices folded"). A flood is fully delivered when that sum
reaches the number of notices the exporter was handed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import traceback
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Final

from benchlib import BENCH_DIR, PYTHON, Mode, child_env, emit, letters_route, metric, na_metric
from otel_discord.testing import DiscordServer, Message, embed_total

TITLE: Final = "3. Delivery under flood"
WEBHOOK_LIMIT, WEBHOOK_WINDOW = 5, 2.0  # Discord: per webhook
CHANNEL_LIMIT, CHANNEL_WINDOW = 30, 60.0  # Discord: per channel, all webhooks together
MAX_EMBEDS, MAX_CHARS = 10, 6000
SCALE: Final = 30  # distinct floods: windows ÷ 30 → 5 req / 0.067 s per webhook, 30 msg / 2 s per channel
BATCH: Final = 512  # OTEL_BSP_MAX_EXPORT_BATCH_SIZE's default
TARGET_CEILING: Final = 0.90
CAP_OFF: Final = "0"
_DIGEST = re.compile(r"Digest: ([\d,]+) notice")
_SEEN = re.compile(r"×([\d,]+)")


@dataclass(frozen=True)
class Flood:
    scenario: str  # "distinct" | "repeats"
    count: int
    emit_seconds: float  # the flood's duration ("one minute", scaled or not)
    scaled: bool  # Discord's windows ÷ SCALE (server and engine)
    grace: float  # seconds to wait for full delivery once the flood is over
    rate_cap: str | None  # RATE_CAP value; None: this build has no cap

    @property
    def label(self) -> str:
        cap = "" if self.rate_cap is None else ", cap off" if self.rate_cap == CAP_OFF else f", cap {self.rate_cap}/min"
        return f"{self.scenario} ×{self.count:,}{cap}"


# --------------------------------------------------------------------------- the ceiling


def ideal_messages(embeds: Sequence[dict[str, Any]]) -> list[int]:
    """Pack embeds in order as tightly as Discord allows; returns the index of each message's last embed."""
    ends: list[int] = []
    count = chars = 0
    urls: set[str] = set()
    for i, embed in enumerate(embeds):
        size = embed_total([embed])
        url = embed.get("url")
        if count and (count >= MAX_EMBEDS or chars + size > MAX_CHARS or (url and url in urls)):
            ends.append(i - 1)
            count = chars = 0
            urls = set()
        count += 1
        chars += size
        if url:
            urls.add(url)
    if count:
        ends.append(len(embeds) - 1)
    return ends


def ceiling_seconds(ready: Sequence[float], webhook_window: float, channel_window: float) -> float:
    """When an ideal client sends its last message: ``ready[j]`` is when message j's embeds all exist.

    The webhook bucket is a fixed window opened by its first request; the channel
    window slides; requests take no time. As the strict server counts them.
    """
    sent: deque[float] = deque()
    window_start, used = float("-inf"), 0
    t = 0.0
    for moment in ready:
        t = max(t, moment)
        while True:
            if len(sent) >= CHANNEL_LIMIT:
                t = max(t, sent[-CHANNEL_LIMIT] + channel_window)
            if t >= window_start + webhook_window:
                window_start, used = t, 0
            if used < WEBHOOK_LIMIT:
                break
            t = window_start + webhook_window
        used += 1
        sent.append(t)
    return t


def represented(messages: Sequence[Message]) -> int:
    """Notices the messages stand for: groups by their ×N, digests by their N, anything else 1."""
    total = 0
    for message in messages:
        for embed in message.embeds:
            digest = _DIGEST.search(embed.get("title") or "")
            seen = next((f.get("value", "") for f in embed.get("fields") or () if f.get("name") == "Seen"), "")
            count = _SEEN.search(seen) if seen else None
            if digest:
                total += int(digest.group(1).replace(",", ""))
            elif count:
                total += int(count.group(1).replace(",", ""))
            else:
                total += 1
    return total


# --------------------------------------------------------------------------- the worker (a fresh process)


def _read_column(row: dict[str, str], column: str) -> float:
    try:
        return float(row[column])
    except ValueError:
        raise ValueError(f"invalid amount {row[column]!r} in column {column!r}") from None


def _import_row(row: dict[str, str], column: str) -> float:
    return _read_column(row, column) * 1.21


def _import_file(rows: list[dict[str, str]], column: str) -> float:
    return sum(_import_row(row, column) for row in rows)


_PLACEHOLDER: Final = "@@column@@"


def exception_event() -> dict[str, str]:
    """The attributes ``span.record_exception`` gives a real failure raised three calls deep.

    Made once: formatting a traceback costs more than what the exporter does with
    it, and this measures the exporter, not ``traceback``. Distinct errors replace
    the placeholder column name.
    """
    try:
        _import_file([{_PLACEHOLDER: "12,50 EUR"}], _PLACEHOLDER)
    except ValueError as exc:
        return {
            "exception.type": type(exc).__name__,
            "exception.message": str(exc),
            "exception.stacktrace": "".join(traceback.format_exception(exc)),
            "exception.escaped": "False",
        }
    raise AssertionError("unreachable")


def _install_engine(settings: Any, channel_window: float) -> bool:
    """Make this process's delivery engine budget ``CHANNEL_LIMIT`` messages per scaled window.

    The engine keeps Discord's hidden 30 / 60 s channel limit itself (no header
    reports it) and that budget is not a setting, so against a scaled server it
    would pace 30× too slowly. Its constructor takes the budget: build one and
    install it where ``get_engine`` finds the process's engine. False if this
    build does not allow it (the row then says so).
    """
    from otel_discord.deliver import engine as engine_module

    try:
        engine = engine_module.DeliveryEngine(settings, channel_budget=(CHANNEL_LIMIT, channel_window))
    except TypeError:
        return False
    engine_module._engine = engine
    return engine_module.get_engine(settings) is engine


def _engine_stats(exporter: Any) -> dict[str, Any]:
    try:
        from otel_discord.deliver.engine import get_engine

        return dict(get_engine(exporter.settings).stats.snapshot())
    except Exception as exc:  # the engine's API may change; the server-side numbers still stand
        return {"error": repr(exc)}


def worker(args: argparse.Namespace) -> None:
    """Flood, report, then keep the engine delivering until the runner closes stdin."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
    from opentelemetry.sdk.trace.export import SpanExportResult
    from opentelemetry.trace import SpanKind, Status, StatusCode

    from otel_discord.config import resolve
    from otel_discord.exporters import DiscordSpanExporter

    if args.rate_cap is not None:
        os.environ["OTEL_EXPORTER_DISCORD_RATE_CAP"] = args.rate_cap
    options = dict(webhook_url=args.url, allowed_hosts=args.host_port, spool_dir=args.spool)
    scaled = _install_engine(resolve("traces", **options), args.channel_window) if args.channel_window else None
    discord = DiscordSpanExporter(**options)

    class Timed(SpanExporter):
        """Counts the spans that reach otel-discord and the time spent in its export()."""

        spans = 0
        seconds = 0.0

        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            start = time.perf_counter()
            result = discord.export(spans)
            Timed.seconds += time.perf_counter() - start
            Timed.spans += len(spans)
            return result

    timed = Timed()
    batch: list[Any] = []

    class Collect(SpanExporter):
        def export(self, spans: Sequence[Any]) -> SpanExportResult:
            batch.extend(spans)
            return SpanExportResult.SUCCESS

    provider = TracerProvider(resource=Resource.create({"service.name": "ozark-finances"}), shutdown_on_exit=False)
    direct = args.feed == "direct"
    provider.add_span_processor(SimpleSpanProcessor(Collect()) if direct else BatchSpanProcessor(timed))
    tracer = provider.get_tracer("bench.flood")
    distinct = args.scenario == "distinct"
    template = exception_event()

    start_wall, start = time.time(), time.monotonic()
    timeline: list[tuple[float, int]] = []  # (seconds since start, spans handed to export() so far)
    for i in range(args.count):
        route = letters_route(i) if distinct else "/imports/payments"
        with tracer.start_as_current_span(f"POST {route}", kind=SpanKind.SERVER, attributes={
            "http.request.method": "POST", "http.route": route, "url.path": route,
            "http.response.status_code": 500,
        }) as span:
            column = f"amount_{route.rsplit('/', 1)[1]}" if distinct else "amount"
            span.add_event("exception", {k: v.replace(_PLACEHOLDER, column) for k, v in template.items()})
            span.set_status(Status(StatusCode.ERROR))
        last = i == args.count - 1
        if direct and (len(batch) >= BATCH or last):
            timed.export(batch)
            batch.clear()
            timeline.append((time.monotonic() - start, i + 1))
        if direct or i % 100 == 99 or last:
            ahead = (i + 1) / args.count * args.emit_seconds - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)  # the flood's pace: count per minute
    if not direct:
        provider.force_flush(60_000)  # the batch processor hands over what it still holds
        timeline.append((time.monotonic() - start, Timed.spans))
    emit({
        "start_wall": start_wall, "emit_seconds": time.monotonic() - start, "handed_over": Timed.spans,
        "export_seconds": Timed.seconds, "timeline": timeline, "engine_scaled": scaled,
    })
    for line in sys.stdin:  # the engine keeps delivering meanwhile
        if line.strip() == "stats":
            emit(_engine_stats(discord))
    sys.stdout.flush()
    os._exit(0)  # no teardown: a graceful shutdown would spend up to 30 s on an undeliverable backlog


# --------------------------------------------------------------------------- the runner


def rate_cap_default() -> int | None:
    """The per-channel rate cap this build applies by default (notices a minute), None if it has none."""
    try:
        from otel_discord.config import resolve
        from otel_discord.pipeline import build_stages

        settings = resolve("traces", webhook_url="http://127.0.0.1:9/api/webhooks/1/x", allowed_hosts="127.0.0.1:9",
                           environ={})
        return int(build_stages(settings).rate_cap)
    except Exception:  # no routing stage with a rate cap in this build
        return None


def _read_json(proc: subprocess.Popen[str], errors: Any) -> dict[str, Any]:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("{"):
            return json.loads(line)
    errors.seek(0)
    raise RuntimeError(f"flood worker exited (code {proc.wait()}): {errors.read()[-2000:]}")


def run_flood(flood: Flood) -> dict[str, Any]:
    """One flood in a fresh process against a fresh strict server."""
    scale = SCALE if flood.scaled else 1
    webhook_window, channel_window = WEBHOOK_WINDOW / scale, CHANNEL_WINDOW / scale
    with DiscordServer(webhook_limit=WEBHOOK_LIMIT, webhook_window=webhook_window,
                       channel_limit=CHANNEL_LIMIT, channel_window=channel_window) as server, \
            tempfile.TemporaryDirectory(prefix="bench-flood-") as spool:
        hook = server.create_webhook("flood")
        cmd = [PYTHON, str(BENCH_DIR / "flood.py"), "worker", flood.scenario, hook.url,
               "--host-port", server.host_port, "--count", str(flood.count), "--emit-seconds", str(flood.emit_seconds),
               "--feed", "direct" if flood.scenario == "distinct" else "bsp", "--spool", spool]
        if flood.scaled:
            cmd += ["--channel-window", str(channel_window)]
        if flood.rate_cap is not None:
            cmd += ["--rate-cap", flood.rate_cap]
        errors = tempfile.TemporaryFile("w+")  # a file, not a pipe: a chatty worker must never block on it
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                                text=True, env=child_env(), cwd=str(BENCH_DIR))
        try:
            result = _read_json(proc, errors)
            goal = result["handed_over"]
            deadline = time.monotonic() + flood.grace
            seen_state, done = None, 0
            while time.monotonic() < deadline:
                stats = server.stats()
                state = (stats["accepted"], stats["edits"])
                if state != seen_state:  # counting copies every message: only when something changed
                    seen_state, done = state, represented(server.messages("flood"))
                    if done >= goal:
                        break
                time.sleep(0.25)
            assert proc.stdin is not None
            proc.stdin.write("stats\n")
            proc.stdin.flush()
            engine_stats = _read_json(proc, errors)
            proc.stdin.close()
            proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            errors.close()
        messages = server.messages("flood")
        stats = server.stats()
    return _measure(flood, result, engine_stats, messages, stats, webhook_window, channel_window)


def _measure(flood: Flood, result: dict[str, Any], engine_stats: dict[str, Any], messages: list[Message],
             stats: dict[str, Any], webhook_window: float, channel_window: float) -> dict[str, Any]:
    start = result["start_wall"]
    embeds = [embed for message in messages for embed in message.embeds]
    changes = [m.created_at.timestamp() - start for m in messages]
    changes += [m.edited_at.timestamp() - start for m in messages if m.edited_at]
    last = max(changes, default=0.0)
    timeline = result["timeline"]

    def ready(index: int) -> float:  # the i-th delivered embed ↔ the i-th notice handed over (FIFO)
        return next((t for t, n in timeline if n > index), timeline[-1][0] if timeline else 0.0)

    ideal = ideal_messages(embeds)
    ceiling = ceiling_seconds([ready(end) for end in ideal], webhook_window, channel_window)
    as_sent = ceiling_seconds([ready(i) for i in range(len(messages))], webhook_window, channel_window)
    done = represented(messages)
    return {
        "flood": flood.__dict__, "label": flood.label, "handed_over": result["handed_over"],
        "represented": done, "complete": done >= result["handed_over"] > 0,
        "messages": len(messages), "embeds": len(embeds), "ideal_messages": len(ideal),
        "embed_chars_mean": sum(embed_total([e]) for e in embeds) / max(1, len(embeds)),
        "edits": stats["edits"], "rate_limited": sum(stats["rate_limited"].values()), "rejected": stats["rejected"],
        "last_change_s": last, "emit_seconds": result["emit_seconds"],
        "ceiling_s": ceiling, "efficiency": ceiling / last if last > 0 and embeds else None,
        "pacing": as_sent / last if last > 0 and messages else None,
        "export_us_per_span": 1e6 * result["export_seconds"] / max(1, result["handed_over"]),
        "engine_scaled": result["engine_scaled"], "engine_stats": engine_stats,
        "notes_in_content": [m.content for m in messages if m.content][-3:],
    }


# --------------------------------------------------------------------------- rows


def _distinct_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    tag, rows = run["label"], []
    status = "all delivered" if run["complete"] else f"{run['represented']:,} of {run['handed_over']:,} by then"
    per_message = run["embeds"] / max(1, run["messages"])
    ideal = run["embeds"] / max(1, run["ideal_messages"])
    if run["flood"]["rate_cap"] in (None, CAP_OFF):
        note = (f"{per_message:.2f} embeds per message vs {ideal:.2f} possible (mean embed "
                f"{run['embed_chars_mean']:.0f} chars); request pacing alone reaches "
                f"{run['pacing'] or 0:.2f} of the limits")
        if run["efficiency"] is None:
            rows.append(na_metric(f"{tag}: share of the ceiling", "nothing was delivered", f"≥ {TARGET_CEILING}"))
        elif run["engine_scaled"] is False:
            rows.append(metric(f"{tag}: share of the ceiling", "ratio", run["efficiency"], target=f"≥ {TARGET_CEILING}",
                               note="the engine's channel budget could not be scaled in this build: not comparable"))
        else:
            rows.append(metric(f"{tag}: share of the ceiling", "ratio", run["efficiency"],
                               ratio=f"ideal {run['ceiling_s']:.1f} s for these embeds", target=f"≥ {TARGET_CEILING}",
                               passed=run["efficiency"] >= TARGET_CEILING, note=note))
        projected = run["last_change_s"] * run["handed_over"] / max(1, run["represented"])
        rows.append(metric(f"{tag}: time to last delivery", "s", run["last_change_s"],
                           ratio=f"{status}; all at this pace ≈ {projected * SCALE / 3600:.1f} h at Discord's limits"))
        rows.append(metric(f"{tag}: export() per error span", "µs", run["export_us_per_span"],
                           note="detect, route, render and enqueue, on the SDK's export thread"))
    else:
        rows.append(metric(f"{tag}: time until all represented", "s", run["last_change_s"],
                           ratio=f"{run['messages']} messages; {status}", target="all represented",
                           passed=run["complete"],
                           note="the cap posts the first notices of each minute and folds the rest into a digest"))
    return rows


def _repeat_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    tag = run["label"]
    kept = run["handed_over"] / run["flood"]["count"]
    lag = run["last_change_s"] - run["emit_seconds"]
    sdk = (f"the SDK passed {kept:.0%} of the spans to the exporter" +
           ("" if kept >= 1 else " and dropped the rest (its queue was full)"))
    return [
        metric(f"{tag}: final count at Discord after the flood", "s", lag,
               ratio=f"{run['messages']} message(s), {run['edits']} edits",
               note=f"{sdk}; {run['export_us_per_span']:.0f} µs per span in export()"),
        metric(f"{tag}: notices represented at Discord", "%", 100 * run["represented"] / max(1, run["handed_over"]),
               target="100 %", passed=run["complete"],
               ratio=f"{run['represented']:,} of {run['handed_over']:,} handed over"),
    ]


def plan(mode: Mode, cap_default: int | None) -> tuple[list[Flood], list[Flood]]:
    """(floods run alone, floods run side by side afterwards)."""
    caps: list[str | None] = [None] if cap_default is None else [CAP_OFF, str(cap_default or 10)]
    off, on = caps[0], caps[-1]
    distinct_count, repeat_count = mode.pick(300, 10_000), mode.pick(3_000, 100_000)
    minute = mode.pick(3.0, 60.0)  # repeats: real time; quick mode keeps the rate (1,000/s), not the count
    alone = [Flood("distinct", distinct_count, 60.0 / SCALE, True, mode.pick(3.0, 25.0), off)]
    side_by_side = [Flood("repeats", repeat_count, minute, False, 15.0, cap) for cap in dict.fromkeys(caps)]
    if on != off and not mode.quick:  # the cap's minute is real time: a digest takes ~70 s
        side_by_side.insert(0, Flood("distinct", distinct_count, 60.0 / SCALE, True, 90.0, on))
    return alone, side_by_side


def run(mode: Mode) -> dict[str, Any]:
    cap_default = rate_cap_default()
    alone, side_by_side = plan(mode, cap_default)
    runs = [run_flood(flood) for flood in alone]
    with ThreadPoolExecutor(len(side_by_side)) as pool:
        runs += list(pool.map(run_flood, side_by_side))
    rows = []
    for r in runs:
        rows += _distinct_rows(r) if r["flood"]["scenario"] == "distinct" else _repeat_rows(r)
    if cap_default is None:
        rows.append(na_metric("per-channel rate cap on", "n/a: this build has no RATE_CAP setting"))
    elif mode.quick:
        rows.append(na_metric("distinct, cap on", "full runs only: the cap's minute is real time"))
    limited = sum(r["rate_limited"] for r in runs)
    rows.append(metric("429 answers, all floods", "count", limited, target="0", passed=limited == 0,
                       note=", ".join(f"{r['label']}: {r['rate_limited']}" for r in runs)))
    return {
        "title": TITLE,
        "config": {
            "scale": SCALE,
            "scale_note": (f"Distinct floods run with Discord's windows divided by {SCALE} (5 requests / "
                           f"{WEBHOOK_WINDOW / SCALE:.3f} s per webhook, 30 messages / {CHANNEL_WINDOW / SCALE:.0f} s "
                           f"per channel, the engine's channel budget likewise, the minute of errors in "
                           f"{60 / SCALE:.0f} s); counts are not scaled: times × {SCALE} give Discord's. Repeats "
                           "run at Discord's real limits and in real time (grouping edits on a real-time interval)."),
            "floods": [f.__dict__ for f in alone + side_by_side],
            "side_by_side": [f.label for f in side_by_side],
        },
        "metrics": rows,
        "raw": {"runs": runs},
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["worker"])
    parser.add_argument("scenario", choices=["distinct", "repeats"])
    parser.add_argument("url")
    parser.add_argument("--host-port", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--emit-seconds", type=float, required=True)
    parser.add_argument("--feed", choices=["direct", "bsp"], required=True)
    parser.add_argument("--spool", required=True)
    parser.add_argument("--channel-window", type=float, help="scale the engine's channel budget to this window")
    parser.add_argument("--rate-cap")
    worker(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
