"""The shared back half of every exporter: audit → route → filter → hold/digest → render → deliver.

Detect is signal-specific and lives in the exporters; everything after a
``Notice`` exists is the same for traces, logs and metrics, so it lives here
once. It runs on the SDK's export thread and only enqueues: the network is the
delivery engine's business. For each notice:

1. a business event is appended to the local audit log (``audit.py``), unfiltered;
2. the router picks its channel(s) and mentions (``route/``, ``presets.py``);
3. filters drop what the configuration does not want (``filters/``), except in an
   audit channel;
4. the digester posts it, or holds it outside the channel's schedule or over its
   rate cap and later folds what waited into one digest (``digest.py``);
5. it is rendered with the channel's options and the privacy settings, and
   enqueued with its mention in ``content`` and exactly those ids allowed.

After a fork the module locks and the rate windows' locks are renewed in the child: one reset registered with ``health/forks.py``, whose single at-fork hook runs it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from zoneinfo import ZoneInfo

from otel_discord.config import Settings, parse_bool
from otel_discord.config.files import check_keys, config_error, mapping
from otel_discord.deliver import audit
from otel_discord.deliver.engine import DeliveryEngine, Outgoing, get_engine
from otel_discord.group import DEFAULT_WINDOW as DEFAULT_GROUP_WINDOW
from otel_discord.health import forks
from otel_discord.health.drops import DropReason, guard
from otel_discord.health.log import get_logger
from otel_discord.notice import SUPPRESS_NOTIFICATIONS, Kind, Notice, Severity
from otel_discord.render.embed import RenderOptions, render_embed
from otel_discord.render.mask import IP_MODES, Masker
from otel_discord.route import Router
from otel_discord.route.digest import DEFAULT_RATE_CAP, TICK_INTERVAL, Digester, RateWindow, parse_rate_cap
from otel_discord.route.filters import FilterChain
from otel_discord.route.holding import HoldingStore, LazyStore
from otel_discord.route.mentions import Mention
from otel_discord.route.schedule import Schedules, load_schedules

_logger = get_logger(__name__)

DEFAULT_IP_MODE: Final = "mask"
_ENV_PREFIX: Final = "OTEL_EXPORTER_DISCORD_"

_users_lock = threading.Lock()
_users: dict[int, int] = {}  # id(engine) → exporters using it
_windows_lock = threading.Lock()
_windows: dict[tuple[str, int, float], RateWindow] = {}  # (spool dir, cap, group window) → rate window


def _reset_after_fork() -> None:
    global _users_lock, _windows_lock
    _users_lock, _windows_lock = threading.Lock(), threading.Lock()
    for window in _windows.values():
        window.reset_lock()


forks.in_child(_reset_after_fork)


def parse_ip_mode(value: Any) -> str:
    """Read ``MASK_IP`` / ``privacy.ip``: keep, mask (last IPv4 octet) or hash."""
    mode = str(value).strip().lower()
    if mode not in IP_MODES:
        raise ValueError(f"must be one of {', '.join(IP_MODES)}, got {value!r}")
    return mode


def _env_has(settings: Settings, name: str) -> bool:
    keys = [f"{_ENV_PREFIX}{name}"]
    if settings.signal:
        keys.append(f"{_ENV_PREFIX}{settings.signal.upper()}_{name}")
    return any(str(settings.env.get(key) or "").strip() for key in keys)


def masker_for(settings: Settings) -> Masker:
    """Masking from ``privacy:`` (``mask_pii``, ``ip: keep|mask|hash``); on by default.

    ``MASK_PII`` from the environment, an argument or the file's top level wins over
    ``privacy.mask_pii``; ``MASK_IP`` over ``privacy.ip``.
    """
    privacy = mapping(settings.raw_file.get("privacy"), "privacy")
    check_keys(privacy, ("mask_pii", "ip"), "privacy")
    mask_pii = settings.mask_pii
    if "mask_pii" in privacy and not _env_has(settings, "MASK_PII") and "mask_pii" not in settings.raw_file:
        try:
            from_privacy = parse_bool(privacy["mask_pii"])
        except ValueError as exc:
            raise config_error("privacy.mask_pii", str(exc)) from None
        # settings.mask_pii differs from its default only when an argument set it: that wins.
        mask_pii = from_privacy if settings.mask_pii else settings.mask_pii
    ip_default = DEFAULT_IP_MODE
    if privacy.get("ip") is not None:
        try:
            ip_default = parse_ip_mode(privacy["ip"])
        except ValueError as exc:
            raise config_error("privacy.ip", str(exc)) from None
    return Masker(enabled=mask_pii, ip_mode=settings.lookup("MASK_IP", parse_ip_mode, ip_default))


@dataclass(frozen=True)
class Stages:
    """Everything the configuration says about routing, read and checked once."""

    router: Router
    filters: FilterChain
    schedules: Schedules
    rate_cap: int
    tz: ZoneInfo
    masker: Masker

    def describe(self) -> dict[str, Any]:
        """The effective routing configuration (no tokens), for ``otel-discord doctor``."""
        return {
            "preset": self.router.preset.name if self.router.preset else "none",
            "routes": self.router.describe(),
            "mentions": self.router.mentions.describe(),
            "filters": self.filters.describe(),
            "schedules": self.schedules.describe(),
            "rate_cap": f"{self.rate_cap} per channel per minute" if self.rate_cap else "off",
            "timezone": self.tz.key,
            "privacy": {"mask_pii": self.masker.enabled, "ip": self.masker.ip_mode},
        }


def build_stages(settings: Settings) -> Stages:
    """Read routes, preset, mentions, filters, schedules, rate cap and privacy; ConfigError names the key."""
    return Stages(
        router=Router(settings),
        filters=FilterChain.from_settings(settings),
        schedules=load_schedules(settings),
        rate_cap=settings.lookup("RATE_CAP", parse_rate_cap, DEFAULT_RATE_CAP),
        tz=settings.timezone,
        masker=masker_for(settings),
    )


def validate(settings: Settings) -> Stages:
    """The routing stages, built once; ``ConfigError`` names the first bad key.

    Exporters call this while resolving their settings (a bad route is refused at
    construction, not on the first notice) and hand the result to ``Pipeline``.
    """
    return build_stages(settings)


def _rate_window(settings: Settings, cap: int, engine: DeliveryEngine) -> RateWindow:
    """The process's rate window for this spool directory: every exporter counts into the same one."""
    options = getattr(engine, "options", None)
    group_window = float(getattr(options, "group_window", DEFAULT_GROUP_WINDOW))
    key = (str(settings.spool_dir), cap, group_window)
    with _windows_lock:
        window = _windows.get(key)
        if window is None:
            window = _windows[key] = RateWindow(cap, group_window=group_window)
        return window


class Pipeline:
    """Audit, route, filter, hold, render and enqueue notices for one exporter."""

    def __init__(
        self,
        settings: Settings,
        *,
        engine: DeliveryEngine | None = None,
        stages: Stages | None = None,
        store: HoldingStore | None = None,
        tick_interval: float = TICK_INTERVAL,
    ) -> None:
        self.settings = settings
        self.stages = stages if stages is not None else build_stages(settings)
        self.engine = engine or get_engine(settings)
        self.engine.update_channels(settings.channels)
        # Audit channels get every business event as it happened: never grouped or collapsed.
        self.engine.exempt(self.stages.router.audit_channels)
        self.audit = audit.AuditLog(settings.spool_dir / audit.FILE_NAME)
        self.store = store if store is not None else LazyStore(settings.spool_dir)
        window = _rate_window(settings, self.stages.rate_cap, self.engine)
        self.digester = Digester(self.store, self.stages.schedules, window, self.stages.tz)
        self._tick_interval = tick_interval
        self._ticking = False
        masker = self.stages.masker
        self._options = {
            name: RenderOptions(trace_url=settings.trace_url, masker=masker, footer=channel.footer, color=channel.color)
            for name, channel in settings.channels.items()
        }
        self._default_options = RenderOptions(trace_url=settings.trace_url, masker=masker)
        with _users_lock:
            _users[id(self.engine)] = _users.get(id(self.engine), 0) + 1
        self._released = False
        if self.digester.holding:  # a previous run left notices waiting
            self._ensure_ticking()

    def submit(
        self,
        notices: Iterable[Notice],
        now: float | None = None,
        *,
        files: Sequence[tuple[str, bytes, str]] = (),
        image: str | None = None,
    ) -> int:
        """Route, filter, hold or render and enqueue; return how many messages the engine accepted.

        ``files`` are uploaded with each message posted now (a notice held for a digest loses
        them); ``image`` (``attachment://summary.png``) is shown in the embed.
        """
        now = time.time() if now is None else now
        try:
            accepted = self._submit_all(notices, now, files, image)
        finally:
            self.engine.wake()  # the whole batch goes to the spool in one transaction
        if self.digester.holding:
            self._ensure_ticking()
        return accepted

    def _submit_all(
        self, notices: Iterable[Notice], now: float, files: Sequence[tuple[str, bytes, str]], image: str | None
    ) -> int:
        accepted = 0
        for notice in notices:
            try:
                if notice.kind is Kind.EVENT:
                    self.audit.record(notice)
                routed_copies = self.stages.router(notice)
            except Exception:  # noqa: BLE001 - a bug of ours must cost this notice only, and be on record
                self._lose(notice, "routing a notice")
                continue
            for routed in routed_copies:
                try:
                    accepted += self._admit(routed, now, files, image)
                except Exception:  # noqa: BLE001 - one channel's failure never costs another channel
                    self._lose(routed, "routing, rendering or enqueueing a notice")
        return accepted

    def _admit(self, routed: Notice, now: float, files: Sequence[tuple[str, bytes, str]], image: str | None) -> int:
        """Filter, hold or enqueue one routed copy of a notice; return how many messages were accepted."""
        router, filters = self.stages.router, self.stages.filters
        channel = routed.channel or ""
        if channel in router.audit_channels:
            return self._enqueue(routed, quiet=True, files=files, image=image, wake=False)  # never held
        reason = filters(routed, channel)
        if reason:
            self.engine.stats.incr(f"filtered.{reason}")
            return 0
        admitted = self.digester.admit(routed, now)
        if not any(item is routed for item in admitted):
            self.engine.stats.incr("held")
        accepted = 0
        for item in admitted:
            attach = item is routed
            accepted += self._enqueue(item, files=files if attach else (), image=image if attach else None, wake=False)
        return accepted

    def _lose(self, notice: Notice, doing: str) -> None:
        """Count, record and report a notice our own code failed on (the traceback goes to our log)."""
        with guard(f"recording a loss while {doing}"):
            _logger.error(
                "internal error while %s (%r); it is counted and kept in the fallback file",
                doing,
                notice.title,
                exc_info=True,
            )
            self.engine.record_loss(notice, DropReason.INTERNAL_ERROR)

    def _ensure_ticking(self) -> None:
        """Have ``tick`` called every few seconds by the engine's timer (no thread of our own)."""
        if self._ticking:
            return
        self._ticking = True
        self.engine.every(self._tick_interval, self._timer)

    def _timer(self, now: float) -> None:
        if not self._released:
            self.tick(now)

    def tick(self, now: float | None = None, *, final: bool = False) -> int:
        """Post the digests that are due (the ticker calls this); return how many were enqueued."""
        now = time.time() if now is None else now
        return sum(self._enqueue(digest) for digest in self.digester.due(now, final=final))

    def deliver(self, notice: Notice, channel: str) -> bool:
        """Render and enqueue ``notice`` to ``channel`` directly (no routing, filters or holding)."""
        return bool(self._enqueue(notice.replace(channel=channel)))

    def _enqueue(
        self,
        notice: Notice,
        *,
        quiet: bool = False,
        files: Sequence[tuple[str, bytes, str]] = (),
        image: str | None = None,
        wake: bool = True,
    ) -> int:
        """Submit, to be rendered when needed; ``quiet`` (an audit copy) never notifies: the notice's
        own channel does."""
        channel = notice.channel or ""
        options = self._options.get(channel, self._default_options)
        shown_image = image if files else None

        def render() -> dict[str, Any]:
            embed = render_embed(notice, options)
            if shown_image:
                embed["image"] = {"url": shown_image}  # attachment://<name> of one of the files
            return embed

        # A repeat of a group that reached the spool moments ago will fold into it and never needs
        # an embed of its own: it is rendered (on the engine's spool thread) only if it turns out to.
        # Anything else is rendered here, on the exporting thread, as its message will need it.
        lazy = self.engine.likely_folds(notice, channel)
        mention = Mention.parse_text(notice.mention)
        loud = not quiet and (
            notice.severity >= Severity.WARNING or bool(mention) or self.stages.filters.amount.is_high_value(notice)
        )
        item = Outgoing(
            channel=channel,
            embed={},
            render=render,
            notice=notice,
            content=mention.text or None,
            flags=0 if loud else SUPPRESS_NOTIFICATIONS,
            mention_roles=mention.roles,
            mention_users=mention.users,
            files=tuple(files),
        )
        if not lazy:
            item = item.rendered()
        if notice.kind is Kind.DIGEST:
            self.engine.stats.incr("digests")
        return int(self.engine.submit(item, wake=wake))

    def flush(self, timeout: float) -> bool:
        return self.engine.flush(timeout)

    def release(self, timeout: float, now: float | None = None) -> None:
        """Post what may go now, then flush; stop the shared engine only when its last exporter lets go."""
        if self._released:
            return
        self._released = True
        with guard("posting digests at shutdown"):
            self.tick(now, final=True)
        with _users_lock:
            remaining = _users.get(id(self.engine), 1) - 1
            _users[id(self.engine)] = remaining
        if remaining <= 0:
            self.engine.shutdown(timeout)
        else:
            self.engine.flush(timeout)

    def describe(self) -> Mapping[str, Any]:
        return self.stages.describe()
