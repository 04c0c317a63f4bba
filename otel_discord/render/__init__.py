"""Notice → Discord JSON: embeds within every limit, and message payloads.

``render_embed`` turns one notice into one embed (cleaned, masked, escaped, cut to
fit); ``pack`` groups embeds into messages; ``build_payload`` makes the request body
with mentions locked down. Nothing here does I/O.
"""

from __future__ import annotations

from otel_discord.render.embed import RenderOptions, render_embed
from otel_discord.render.mask import Masker
from otel_discord.render.payload import build_payload, pack

__all__ = ["Masker", "RenderOptions", "build_payload", "pack", "render_embed"]
