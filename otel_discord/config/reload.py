"""Configuration reload: a rotated webhook URL takes effect without a restart.

Webhook URLs are secrets people rotate. The delivery engine's housekeeping
thread calls ``Reloader.check(now)`` every tick; it resolves the settings again
(``config.resolve``: same precedence, same errors) when

* the config file changed: its mtime, size or inode, polled every
  ``RELOAD_INTERVAL`` seconds (no inotify: it works on every file system and
  with editors that replace the file rather than write it);
* SIGHUP arrived. The handler is installed only where the application has none
  (the disposition is still the default): an application's own SIGHUP handler
  is never replaced. gunicorn's master installs its own after us, which is
  fine: polling still works there;
* ``FULL_CHECK`` seconds passed: the environment can change too (a process
  may set its own variables after fetching secrets), and ``${VAR}``
  references in the file follow it.

Only channels are reloaded (webhook URLs and per-channel options); other
settings need a restart, and an edit of one (a route, a filter, a schedule) is
logged as a WARNING naming what changed and that it needs one. And only settings that resolving again reproduces
exactly are watched: webhook URLs given to an exporter as arguments cannot
change while it runs, and re-reading the environment must not override them.
A new configuration that does not resolve is logged once, naming the setting
(never the token), and the one in use stays.
"""

from __future__ import annotations

import os
import signal
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from otel_discord.config import Channel, ConfigError, Settings, resolve
from otel_discord.health.log import get_logger

_logger = get_logger(__name__)

FULL_CHECK: Final = 30.0

Resolver = Callable[[], Settings]
Change = tuple[Settings, Settings]  # (as it was, as it is now)


def _stamp(path: Path | None) -> tuple[Any, ...] | None:
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError as exc:
        return ("missing", exc.errno)
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def needs_restart(old: Settings, new: Settings) -> list[str]:
    """What changed between ``old`` and ``new`` that reloading does not apply (names only, no values).

    Routes, filters, schedules and every setting but the channels are read once, by the
    stages built at start: saying so beats ignoring an edit silently.
    """
    changed = [
        f"config file key {key!r}"
        for key in sorted(set(old.raw_file) | set(new.raw_file))
        if key != "channels" and old.raw_file.get(key) != new.raw_file.get(key)
    ]
    for key in sorted(set(old.env) | set(new.env)):
        if "WEBHOOK_URL" not in key and old.env.get(key) != new.env.get(key):
            changed.append(key)
    return changed


def default_resolver(settings: Settings) -> Resolver:
    """Resolve ``settings``' signal again from the environment and its config file."""
    return lambda: resolve(settings.signal, config_file=settings.config_file)


@dataclass
class _Source:
    resolve: Resolver
    settings: Settings
    stamp: tuple[Any, ...] | None


class Reloader:
    """Watches the settings of each exporter of one engine; thread-safe."""

    def __init__(self, interval: float, *, full_check: float = FULL_CHECK) -> None:
        self.interval = interval  # 0: no polling (SIGHUP and ``check(force=True)`` still work)
        self.full_check = full_check
        self._lock = threading.Lock()
        self._sources: list[_Source] = []
        self._unverified: list[tuple[Settings, Resolver, bool]] = []
        self._next = 0.0
        self._next_full = 0.0
        self._errors: set[str] = set()
        self.requested = False  # set from a signal handler: a plain flag, no lock

    def track(self, settings: Settings, resolver: Resolver | None = None) -> None:
        """Watch ``settings`` (checked on the worker thread: resolving reads the config file).

        With ``resolver`` (tests, or callers that know their arguments) it is trusted;
        without, the settings are watched only if resolving again reproduces them.
        """
        with self._lock:
            if any(s.settings is settings for s in self._sources):
                return
            self._unverified.append((settings, resolver or default_resolver(settings), resolver is not None))

    def request(self) -> None:
        """Check at the next tick (SIGHUP)."""
        self.requested = True

    def check(self, now: float, *, force: bool = False) -> list[Change]:
        """Resolve again where something may have changed; return the sources that did change."""
        with self._lock:
            self._verify()
            requested, self.requested = self.requested, False
            force = force or requested
            if not force and (self.interval <= 0 or now < self._next):
                return []
            self._next = now + self.interval
            full = force or now >= self._next_full
            if full:
                self._next_full = now + self.full_check
            changes: list[Change] = []
            for source in self._sources:
                stamp = _stamp(source.settings.config_file)
                if not full and stamp == source.stamp:
                    continue
                source.stamp = stamp
                new = self._resolve(source.resolve)
                if new is None:
                    continue
                pending = needs_restart(source.settings, new)
                if pending:
                    _logger.warning(
                        "configuration changed: %s; %s effect after a restart (only channels are reloaded)",
                        ", ".join(pending),
                        "it takes" if len(pending) == 1 else "they take",
                    )
                if new.channels != source.settings.channels:
                    changes.append((source.settings, new))
                if pending or new.channels != source.settings.channels:
                    source.settings = new
            return changes

    def _verify(self) -> None:
        pending, self._unverified = self._unverified, []
        for settings, resolver, trusted in pending:
            stamp = _stamp(settings.config_file)
            if trusted:
                self._sources.append(_Source(resolver, settings, stamp))
                continue
            try:
                again = resolver()
            except (ConfigError, OSError):
                again = None
            if again is not None and again.channels == settings.channels:
                self._sources.append(_Source(resolver, settings, stamp))
            else:
                _logger.debug("%s channels come from arguments; they are not reloaded", settings.signal or "engine")

    def _resolve(self, resolver: Resolver) -> Settings | None:
        try:
            return resolver()
        except ConfigError as exc:
            message = str(exc)
            if message not in self._errors:
                self._errors.add(message)
                _logger.error("the changed configuration is not used (the previous one stays): %s", message)
        except OSError as exc:
            _logger.warning("cannot read the configuration again: %s", exc.strerror or exc)
        return None


def merge(current: Mapping[str, Channel], changes: Sequence[Change]) -> tuple[dict[str, Channel], str]:
    """``current`` channels with ``changes`` applied, and what changed (for the log, tokens masked).

    A name that a source no longer has is removed; names no source ever had (given
    to the engine directly) stay.
    """
    merged = dict(current)
    for old, new in changes:
        for name in old.channels.keys() - new.channels.keys():
            merged.pop(name, None)
        merged.update(new.channels)
    changed = sorted(name for name in merged.keys() | current.keys() if merged.get(name) != current.get(name))
    return merged, ", ".join(
        f"{name} → {merged[name].webhook}" if name in merged else f"{name} (removed)" for name in changed
    )


# --- SIGHUP ---------------------------------------------------------------------------

_reloaders: weakref.WeakSet[Reloader] = weakref.WeakSet()


def _on_sighup(signum: int, frame: object) -> None:
    # A signal handler runs between two bytecodes of the main thread, which may hold
    # any lock: set plain flags only; the housekeeping thread does the work.
    for reloader in list(_reloaders):
        reloader.requested = True


def install_sighup(reloader: Reloader) -> bool:
    """Make SIGHUP reload ``reloader``'s settings, if the application left SIGHUP alone.

    Returns whether our handler is the one in place. Never replaces an
    application's handler, nor SIG_IGN (``nohup``); only the main thread can install one.
    """
    _reloaders.add(reloader)
    sighup = getattr(signal, "SIGHUP", None)
    if sighup is None:
        return False
    try:
        current = signal.getsignal(sighup)
        if current is _on_sighup:
            return True
        if current is not signal.SIG_DFL or threading.current_thread() is not threading.main_thread():
            return False
        signal.signal(sighup, _on_sighup)
    except (ValueError, OSError):  # not the main thread after all, or an embedded interpreter
        return False
    return True
