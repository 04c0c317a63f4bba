"""``otel-discord preview``: a local Discord with a web page showing what it received.

Starts the strict local Discord server with one webhook per channel, prints the
webhook URLs and the environment lines that point otel-discord at them, and serves
the preview page until Ctrl-C. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable

from otel_discord.testing.preview import DEFAULT_CHANNEL, DEFAULT_PORT, Preview, preset_channels


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port on 127.0.0.1 for the webhooks and the page (default {DEFAULT_PORT}; 0 = any free)",
    )
    parser.add_argument(
        "--channels",
        default="",
        help="comma-separated channel names, one webhook each (default: 'default'); "
        "the first is the default channel unless 'default' is listed",
    )
    parser.add_argument(
        "--preset",
        choices=sorted(preset_channels()),
        help="also create the channels of a routing preset (focused: finance-activity, "
        "system-debug, user-activity) and 'default'",
    )


def channel_names(channels: str, preset: str | None) -> list[str]:
    """The channels to create, in order, without duplicates; ``ValueError`` on a bad name."""
    names = [name.strip().lower() for name in channels.split(",") if name.strip()]
    if preset:
        names = [*(names or [DEFAULT_CHANNEL]), *preset_channels()[preset]]
    for name in names:
        if not name.replace("-", "").replace("_", "").isalnum() or len(name) > 64:
            raise ValueError(f"channel name {name!r} must be letters, digits, '-' or '_' (at most 64)")
    return list(dict.fromkeys(names or [DEFAULT_CHANNEL]))


def describe(preview: Preview, preset: str | None = None) -> list[str]:
    """What the command prints: the page, each webhook, and the lines to export."""
    width = max(len(name) for name in preview.webhooks) + 1
    lines = [f"otel-discord preview: open {preview.url} in a browser", "", "webhooks (one per channel):"]
    lines += [f"  #{name:<{width}} {hook.url}" for name, hook in preview.webhooks.items()]
    lines += ["", "point otel-discord at them (shell):"]
    lines += [f"  export {key}={value}" for key, value in preview.env().items()]
    if preset:
        lines.append(f"  export OTEL_EXPORTER_DISCORD_PRESET={preset}")
    return lines


def _say(line: str) -> None:
    print(line, flush=True)  # the URLs must show at once, also when piped


def run(args: argparse.Namespace, *, out: Callable[[str], None] = _say, wait: Callable[[], None] | None = None) -> int:
    """Serve until Ctrl-C (or until ``wait`` returns, for tests); print a summary at the end."""
    try:
        names = channel_names(args.channels, args.preset)
    except ValueError as exc:
        out(f"otel-discord preview: {exc}")
        return 2
    try:
        preview = Preview.start(names, port=args.port)
    except OSError as exc:
        out(
            f"otel-discord preview: cannot listen on 127.0.0.1:{args.port} ({exc.strerror or exc}); "
            "choose another port with --port (0 = any free port)"
        )
        return 1
    try:
        for line in describe(preview, args.preset):
            out(line)
        out("")
        out("Ctrl-C to stop.")
        try:
            (wait or _forever)()
        except KeyboardInterrupt:
            pass
        out(f"received: {preview.summary().line()}")
    finally:
        preview.stop()
    return 0


def _forever() -> None:
    stop = threading.Event()
    while not stop.wait(3600):  # wakes up now and then so Ctrl-C is seen on every platform
        pass
