"""The shared back half of every exporter: route → render → deliver.

Detect is signal-specific and lives in the exporters; everything after a
``Notice`` exists is the same for traces, logs and metrics, so it lives here
once. It runs on the SDK's export thread and only enqueues: the network is the
delivery engine's business.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from otel_discord.config import Settings
from otel_discord.deliver.engine import DeliveryEngine, Outgoing, get_engine
from otel_discord.notice import Notice, Severity
from otel_discord.render.embed import RenderOptions, render_embed
from otel_discord.render.limits import embed_size
from otel_discord.render.mask import Masker
from otel_discord.route import Router

# Discord's SUPPRESS_NOTIFICATIONS flag: the message is kept, the phone stays quiet.
SUPPRESS_NOTIFICATIONS = 1 << 12

_users_lock = threading.Lock()
_users: dict[int, int] = {}  # id(engine) → exporters using it


class Pipeline:
    """Route, render and enqueue notices for one exporter."""

    def __init__(self, settings: Settings, *, engine: DeliveryEngine | None = None) -> None:
        self.settings = settings
        self.engine = engine or get_engine(settings)
        self.engine.update_channels(settings.channels)
        self._router = Router(settings)
        masker = Masker(enabled=settings.mask_pii)
        self._options = {
            name: RenderOptions(
                trace_url=settings.trace_url, masker=masker, footer=channel.footer, color=channel.color
            )
            for name, channel in settings.channels.items()
        }
        self._default_options = RenderOptions(trace_url=settings.trace_url, masker=masker)
        with _users_lock:
            _users[id(self.engine)] = _users.get(id(self.engine), 0) + 1
        self._released = False

    def submit(self, notices: Iterable[Notice]) -> int:
        """Route, render and enqueue; return how many messages were accepted by the engine."""
        accepted = 0
        for notice in notices:
            for routed in self._router(notice):
                channel = routed.channel or ""
                embed = render_embed(routed, self._options.get(channel, self._default_options))
                flags = SUPPRESS_NOTIFICATIONS if routed.severity < Severity.WARNING else 0
                item = Outgoing(channel=channel, embed=embed, notice=routed, size=embed_size(embed), flags=flags)
                accepted += self.engine.submit(item)
        return accepted

    def flush(self, timeout: float) -> bool:
        return self.engine.flush(timeout)

    def release(self, timeout: float) -> None:
        """Flush; stop the shared engine only when its last exporter lets go."""
        if self._released:
            return
        self._released = True
        with _users_lock:
            remaining = _users.get(id(self.engine), 1) - 1
            _users[id(self.engine)] = remaining
        if remaining <= 0:
            self.engine.shutdown(timeout)
        else:
            self.engine.flush(timeout)
