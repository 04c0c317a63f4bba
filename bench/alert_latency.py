"""§6 Time to alert: from a failing request's response to its message at Discord.

Two copies of ``bench_app`` run under ``opentelemetry-instrument`` with
``OTEL_TRACES_EXPORTER=discord`` and default settings, one with the SDK's default
``OTEL_BSP_SCHEDULE_DELAY`` (5000 ms) and one with 500 ms, each posting to its
own channel of the strict local Discord (Discord's limits). A client requests
``/boom?ref=<marker>`` at random intervals (mean 1.5 s, a few ``/ok`` in between,
below the channel's 30 messages a minute); each marker makes a distinct error
(repeats of one error would be folded into its first message) and ends up in
the embed, so each message is matched to its request. Latency = the message's
creation time at the server minus the moment the client got the 500 answer.

One setting differs from the defaults: the per-channel rate cap is off
(``RATE_CAP=0``). Its default, 10 notices a minute, would fold most of these
alerts into a digest: this section measures the path of an alert, not the cap.

Most of it is the batch processor's schedule delay: spans wait for the next
export (up to the delay), then the delivery engine lingers up to 0.25 s for
company before posting.
"""

from __future__ import annotations

import json
import random
import string
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Final

import requests
from app_server import AppServer
from benchlib import Mode, metric, percentile

from otel_discord.testing import DiscordServer

TITLE: Final = "6. Time to alert"
CONFIGS: Final = {"default (5000 ms)": None, "500 ms": "500"}


def _drive(app: AppServer, count: int, seed: int, sent: dict[str, float]) -> None:
    rng = random.Random(seed)
    with requests.Session() as session:
        for _ in range(count):
            time.sleep(rng.uniform(0.5, 2.5))
            for _ in range(rng.randint(0, 4)):
                session.get(f"{app.base}/ok", timeout=10)
            ref = "ref" + "".join(rng.choices(string.ascii_lowercase, k=10))
            answer = session.get(f"{app.base}/boom", params={"ref": ref}, timeout=10)
            if answer.status_code == 500:
                sent[ref] = time.time()


def _arrivals(server: DiscordServer, channel: str, refs: set[str]) -> dict[str, float]:
    found: dict[str, float] = {}
    for message in server.messages(channel):
        for embed in message.embeds:
            text = json.dumps(embed)
            for ref in refs - found.keys():
                if ref in text:
                    found[ref] = message.created_at.timestamp()
    return found


def run(mode: Mode) -> dict[str, Any]:
    count = mode.pick(6, 24)
    sent: dict[str, dict[str, float]] = {name: {} for name in CONFIGS}
    arrived: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-alert-") as tmp, DiscordServer() as discord:
        channels = {name: f"s6-{i}" for i, name in enumerate(CONFIGS)}
        apps: dict[str, AppServer] = {}
        try:
            for i, (name, delay) in enumerate(CONFIGS.items()):
                otel = {
                    "OTEL_TRACES_EXPORTER": "discord",
                    "OTEL_EXPORTER_DISCORD_RATE_CAP": "0",
                    "OTEL_EXPORTER_DISCORD_WEBHOOK_URL": discord.create_webhook(channels[name]).url,
                    "OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS": discord.host_port,
                }
                if delay is not None:
                    otel["OTEL_BSP_SCHEDULE_DELAY"] = delay
                apps[name] = AppServer(f"alert-{i}", Path(tmp), otel)
            for app in apps.values():
                app.wait_ready(90)
            drivers = [
                threading.Thread(target=_drive, args=(apps[name], count, 7 + i, sent[name]))
                for i, name in enumerate(CONFIGS)
            ]
            for thread in drivers:
                thread.start()
            for thread in drivers:
                thread.join()
            for name in CONFIGS:
                refs = set(sent[name])
                discord.wait_for(lambda: len(_arrivals(discord, channels[name], refs)) >= len(refs), timeout=20)
                arrived[name] = _arrivals(discord, channels[name], refs)
        finally:
            for app in apps.values():
                app.stop()
        rate_limited = sum(discord.stats()["rate_limited"].values())
    rows = []
    latencies: dict[str, list[float]] = {}
    for name in CONFIGS:
        lat = [arrived[name][ref] - t for ref, t in sent[name].items() if ref in arrived[name]]
        latencies[name] = lat
        missing = len(sent[name]) - len(lat)
        rows.append(
            metric(
                f"{name}: median",
                "s",
                percentile(lat, 50),
                headline=True,
                ratio=f"n = {len(lat)} alerts",
                note=f"{missing} never arrived" if missing else None,
            )
        )
        rows.append(
            metric(
                f"{name}: p99",
                "s",
                percentile(lat, 99),
                headline=True,
                ratio=f"max {max(lat, default=float('nan')):.2f} s (p99 of {len(lat)} ≈ the max)",
            )
        )
        rows.append(
            metric(
                f"{name}: alerts that arrived",
                "%",
                100 * len(lat) / max(1, len(sent[name])),
                target="100 %",
                passed=missing == 0,
            )
        )
    rows.append(metric("429 answers", "count", rate_limited, target="0", passed=rate_limited == 0))
    return {
        "title": TITLE,
        "config": {
            "alerts_per_config": count,
            "interval_s": "uniform 0.5–2.5",
            "configs": CONFIGS,
            "rate_cap": "0 (off)",
        },
        "metrics": rows,
        "raw": {"latencies_s": latencies},
    }
