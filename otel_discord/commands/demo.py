"""The one-command demo (``./dev demo``): the example app's alerts in a local Discord preview.

1. Starts the local Discord preview (``otel_discord.testing.preview``) with the channels
   of the focused routing preset, unless ``OTEL_EXPORTER_DISCORD_WEBHOOK_URL`` is set: then
   everything goes to that real Discord webhook instead, and the demo says so.
2. Starts the Ozark Finances example app under ``opentelemetry-instrument`` with traces,
   logs and metrics exported to ``discord`` (logs and metrics only once their exporters
   are installed, so the demo works at every stage of the project).
3. Drives the scripted session (``examples/flask_app/drive.py``), waits until the alerts
   it causes have arrived, and prints the preview URL and a one-line summary.
4. Keeps the preview and the app running until Ctrl-C (``--exit`` stops after the summary).

Needs a clone of the repository (the example app is not part of the package). The app's
database, the spool and the logs live in a temporary directory that is removed at the end.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import requests
import yaml

from otel_discord.config import ConfigError, resolve
from otel_discord.testing.preview import DEFAULT_CHANNEL, DEFAULT_PORT, Preview, Summary, preset_channels

REPO: Final = Path(__file__).resolve().parents[2]  # otel_discord/commands/demo.py → the clone
APP_MODULE: Final = "examples.flask_app.ozark"
EXAMPLE_CONFIG: Final = "otel-discord.example.yaml"
_PREFIX: Final = "OTEL_EXPORTER_DISCORD_"
#: Tuned for a demo: export quickly, treat the ~1 s cash-flow report as slow.
DEMO_ENV: Final = {
    "OTEL_SERVICE_NAME": "ozark-finances",
    "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=demo,service.version=1.0.0",
    "OTEL_BSP_SCHEDULE_DELAY": "500",
    "OTEL_BLRP_SCHEDULE_DELAY": "500",
    "OTEL_METRIC_EXPORT_INTERVAL": "5000",
    "OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS": "300",
    "PYTHONUNBUFFERED": "1",
}
#: Text that the alerts the scripted session causes contain: /boom's ValueError, the slow
#: cash-flow report and (with the log exporter) the high-value invoice #250090.
TRACE_MARKERS: Final = ("ValueError", "Slow query")
LOG_MARKERS: Final = ("250090",)
WEBHOOK_NAME: Final = "Ozark Finances"  # what the preview's webhooks are called, as a user would name them
QUIET_S: Final = 2.0  # no new message for this long after the markers arrived: delivery is done


@dataclass
class DemoOptions:
    exit: bool = False  # stop after the summary instead of serving until Ctrl-C
    also: tuple[str, ...] = ()  # exporters to run alongside discord, e.g. ("console",)
    port: int = DEFAULT_PORT
    delivery_timeout: float = 60.0
    app_timeout: float = 60.0


@dataclass
class DemoResult:
    ok: bool
    preview_url: str | None
    app_url: str
    summary: Summary | None
    drive: dict[str, Any] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)  # markers that never arrived


def _say(line: str) -> None:
    print(line, flush=True)  # progress must show at once, also when piped


def has_exporter(signal_name: str) -> bool:
    """Whether a ``discord`` exporter for ``signal_name`` (traces, logs, metrics) is installed."""
    return any(ep.name == "discord" for ep in entry_points(group=f"opentelemetry_{signal_name}_exporter"))


def demo_channels() -> list[str]:
    """The preview's channels: ``default`` and those of the focused routing preset."""
    return [DEFAULT_CHANNEL, *preset_channels().get("focused", ())]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _load_drive() -> ModuleType:
    """``examples/flask_app/drive.py`` by path: the examples are not a package."""
    spec = importlib.util.spec_from_file_location("ozark_drive", REPO / "examples" / "flask_app" / "drive.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exporter_flags(also: Sequence[str]) -> list[str]:
    """``opentelemetry-instrument`` flags: discord (+ ``also``) for each signal that has one."""
    flags = []
    for signal_name in ("traces", "logs", "metrics"):
        names = (["discord"] if has_exporter(signal_name) else []) + [a for a in also if a != "discord"]
        flags += [f"--{signal_name}_exporter", ",".join(names) or "none"]
    return flags


def example_config(
    preview: Preview, directory: Path, out: Callable[[str], None], source: Path = REPO / EXAMPLE_CONFIG
) -> Path | None:
    """The repository's focused-preset config with its webhooks pointed at ``preview``.

    The file names its webhooks with ``${VARIABLES}``; a copy with the preview's URLs put
    in their place (and without ``schedules``, so the demo shows its alerts at any hour)
    goes to ``directory``. ``None`` when the repository has no such file.
    """
    if not source.is_file():
        return None
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        out(f"    ! {source.name} is not readable YAML ({exc}); using the preset's channels without it")
        return None
    channels = data.get("channels") if isinstance(data, dict) else None
    if not isinstance(channels, dict):
        return None
    for name, spec in channels.items():
        url = preview.add_channel(str(name).strip().lower().replace("_", "-")).url
        channels[name] = {**spec, "webhook_url": url} if isinstance(spec, dict) else url
    if data.pop("schedules", None) is not None:
        out("    (the example's schedules are left out: quiet hours would hold the demo's alerts until morning)")
    target = directory / "otel-discord.yaml"
    target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return target


def _stop_app(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """SIGINT, like Ctrl-C, so the SDK flushes every exporter; SIGKILL if it hangs."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def wait_for_delivery(preview: Preview, markers: Sequence[str], timeout: float) -> list[str]:
    """Wait until an embed or message contains each marker and nothing new came for ``QUIET_S``.

    Returns the markers that never arrived (empty when all did).
    """
    server = preview.server
    deadline = time.monotonic() + timeout

    def missing() -> list[str]:
        text = "\n".join(str(m.payload) for m in server.messages())
        return [marker for marker in markers if marker not in text]

    last_revision, quiet_since = server.revision, time.monotonic()
    while time.monotonic() < deadline:
        server.wait_for(lambda: server.revision != last_revision, timeout=0.25)
        if server.revision != last_revision:
            last_revision, quiet_since = server.revision, time.monotonic()
        elif not missing() and time.monotonic() - quiet_since >= QUIET_S:
            return []
    return missing()


class Demo:
    """One run of the demo; ``run()`` does steps 1-3, ``serve_until_interrupted`` step 4."""

    def __init__(
        self,
        options: DemoOptions,
        *,
        preview: Preview | None = None,
        out: Callable[[str], None] = _say,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.options = options
        self.out = out
        self.environ = dict(os.environ if environ is None else environ)
        self.real_discord = bool(self.environ.get(f"{_PREFIX}WEBHOOK_URL", "").strip())
        self.preview = preview
        self._own_preview = preview is None
        self.workdir = Path(tempfile.mkdtemp(prefix="otel-discord-demo-"))
        self.app: subprocess.Popen[bytes] | None = None
        self.app_url = ""

    # ------------------------------------------------------------------ setup
    def _start_preview(self) -> Preview:
        channels = demo_channels()
        try:
            return Preview.start(channels, port=self.options.port, webhook_name=WEBHOOK_NAME)
        except OSError:
            self.out(f"    port {self.options.port} is busy; the preview takes a free one")
            return Preview.start(channels, port=0, webhook_name=WEBHOOK_NAME)

    def _app_env(self) -> dict[str, str]:
        env = dict(self.environ)
        if not self.real_discord:
            # A configuration of the user's own must not send the demo to a real channel.
            env = {k: v for k, v in env.items() if not k.startswith(_PREFIX)}
        for key, value in DEMO_ENV.items():  # with a real webhook, the user's own tuning wins
            env[key] = env.get(key, value) if self.real_discord else value
        bin_dir = str(Path(sys.executable).parent)
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        env.update(
            {
                f"{_PREFIX}SPOOL_DIR": str(self.workdir / "spool"),
                "OZARK_DATABASE_URL": f"sqlite:///{self.workdir / 'ozark.db'}",
                "OZARK_BACKUP_DIR": str(self.workdir / "backups"),
                "OZARK_SECRET_KEY": secrets.token_hex(16),
            }
        )
        if self.preview is not None:
            config = example_config(self.preview, self.workdir, self.out)
            env.update(self.preview.env())
            if config is not None:
                env[f"{_PREFIX}CONFIG"] = str(config)
        return env

    def _start_app(self) -> None:
        port = _free_port()
        self.app_url = f"http://127.0.0.1:{port}"
        instrument = Path(sys.executable).with_name("opentelemetry-instrument")
        command = [
            str(instrument) if instrument.exists() else "opentelemetry-instrument",
            *exporter_flags(self.options.also),
            sys.executable,
            "-m",
            "flask",
            "--app",
            APP_MODULE,
            "run",
            "--port",
            str(port),
            "--no-reload",
            "--no-debugger",
        ]
        log = None if "console" in self.options.also else open(self.workdir / "app.log", "wb")  # noqa: SIM115
        try:
            self.app = subprocess.Popen(
                command,
                cwd=REPO,
                env=self._app_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT if log else None,
                start_new_session=True,
            )  # Ctrl-C reaches it through us, in order
        finally:
            if log is not None:
                log.close()

    # ------------------------------------------------------------------ the run
    def run(self) -> DemoResult:
        out = self.out
        if not (REPO / "examples" / "flask_app" / "drive.py").is_file():
            raise SystemExit("the demo needs a clone of the repository: examples/flask_app is missing")
        if self.real_discord:
            try:
                settings = resolve("traces", environ=self.environ)
            except ConfigError as exc:
                raise SystemExit(f"demo: {exc}") from None
            hooks = ", ".join(f"#{n} {ch.webhook}" for n, ch in settings.channels.items())
            out(f"==> posting to your real Discord webhook{'s' if len(settings.channels) > 1 else ''}: {hooks}")
            out("    (unset OTEL_EXPORTER_DISCORD_WEBHOOK_URL for the local preview instead)")
        else:
            if self.preview is None:
                self.preview = self._start_preview()
            out(f"==> local Discord preview at {self.preview.url} (nothing is posted to discord.com)")
        signals = [s for s in ("traces", "logs", "metrics") if has_exporter(s)]
        extra = f" + {', '.join(self.options.also)}" if self.options.also else ""
        out(f"==> starting the Ozark Finances example app; exporting {', '.join(signals)} to discord{extra}")
        self._start_app()
        if not self._wait_for_app():
            out(_tail(self.workdir / "app.log"))
            return DemoResult(False, self.preview.url if self.preview else None, self.app_url, None)
        drive = _load_drive()
        out("==> driving a scripted bookkeeping session")
        try:
            summary = drive.drive(self.app_url, out=lambda line: out("    " + line), wait_s=self.options.app_timeout)
        except (RuntimeError, OSError, requests.RequestException) as exc:  # the app died mid-session
            out(f"    the session failed: {exc}")
            out(_tail(self.workdir / "app.log"))
            return DemoResult(False, self.preview.url if self.preview else None, self.app_url, None)
        markers = [*TRACE_MARKERS, *(LOG_MARKERS if "logs" in signals else ())]
        missing = self._wait_for_delivery(markers)
        result = DemoResult(
            bool(summary.get("ok")) and not missing,
            self.preview.url if self.preview else None,
            self.app_url,
            self.preview.summary() if self.preview else None,
            summary,
            missing,
        )
        self._report(result)
        return result

    def _wait_for_app(self) -> bool:
        """Until the app answers /healthz; False (said why) if it exits or takes too long."""
        assert self.app is not None
        deadline = time.monotonic() + self.options.app_timeout
        while time.monotonic() < deadline:
            if self.app.poll() is not None:
                self.out(f"    the app exited with status {self.app.returncode} before it answered")
                return False
            try:
                if requests.get(f"{self.app_url}/healthz", timeout=2).ok:
                    return True
            except requests.RequestException:
                pass
            time.sleep(0.2)
        self.out(f"    the app did not answer within {self.options.app_timeout:.0f} s")
        return False

    def _wait_for_delivery(self, markers: Sequence[str]) -> list[str]:
        self.out("==> waiting for the alerts to be delivered")
        if self.preview is None:  # real Discord cannot be watched: give the exporters a moment
            time.sleep(QUIET_S + 1)
            return []
        missing = wait_for_delivery(self.preview, markers, self.options.delivery_timeout)
        if missing:
            self.out(
                f"    ! not seen within {self.options.delivery_timeout:.0f} s: {', '.join(missing)}; "
                "the end of the app's log:"
            )
            self.out(_tail(self.workdir / "app.log"))
        return missing

    def _report(self, result: DemoResult) -> None:
        out = self.out
        if result.summary is None:
            out("==> sent to Discord: open your channel to see the alerts")
        else:
            out(f"==> preview: {result.preview_url}")
            out(f"summary: {result.summary.line()}")

    # ------------------------------------------------------------------ the end
    def serve_until_interrupted(self) -> None:
        self.out(
            f"    the app keeps running at {self.app_url} (log in as anna / ozark-anna-2025): "
            "what you do there shows up in the preview"
        )
        self.out("    Ctrl-C to stop")
        try:
            while not threading.Event().wait(3600):
                pass
        except KeyboardInterrupt:
            self.out("")

    def close(self) -> None:
        """Stop the app (it flushes on the way out), then our own preview; remove the temp dir."""
        if self.app is not None:
            _stop_app(self.app)
        if self.preview is not None and self._own_preview:
            self.preview.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m otel_discord.commands.demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--exit", action="store_true", help="stop after the summary instead of waiting for Ctrl-C")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="EXPORTER",
        help="another exporter alongside discord for every signal, e.g. --also console",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"port of the local preview (default {DEFAULT_PORT}; a free one if it is busy)",
    )
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for delivery")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops the app cleanly too, like Ctrl-C
    demo = Demo(DemoOptions(exit=args.exit, also=tuple(args.also), port=args.port, delivery_timeout=args.timeout))
    try:
        result = demo.run()
        if not args.exit:
            demo.serve_until_interrupted()
    except KeyboardInterrupt:
        return 130
    finally:
        demo.close()
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
