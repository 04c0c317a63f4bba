"""Which exporters ``opentelemetry-instrument`` will look up per signal, and which are not installed.

The trap this catches: ``opentelemetry-distro`` defaults every signal to ``otlp`` and
the OTLP protocol to ``grpc``. A user who runs ``opentelemetry-instrument
--traces_exporter discord flask run`` without the gRPC OTLP exporter installed gets
``RuntimeError: Requested component 'otlp_proto_grpc' not found in entry point
'opentelemetry_metrics_exporter'`` in a 40-line traceback, and the SDK then configures
*nothing*: no traces reach Discord either. The SDK's own name rules
(``opentelemetry/sdk/_configuration``: ``_get_exporter_names``,
``_get_exporter_entry_point``) are repeated here, so the answer can be given before the
SDK fails, in one line that names the fix.

Two callers: ``otel-discord doctor`` (the configured signals, from the environment) and
``warn_if_missing()``, run when the SDK imports one of our exporters under
``opentelemetry-instrument``: traces are imported first, so ``--traces_exporter discord``
with the distro's defaults for metrics and logs is caught (a missing *traces* exporter
fails before any of our code is imported, so that case stays the SDK's).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Final

SIGNALS: Final = ("traces", "metrics", "logs")
ENV: Final = {signal: f"OTEL_{signal.upper()}_EXPORTER" for signal in SIGNALS}
_PROTOCOL_ENV: Final = {signal: f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL" for signal in SIGNALS}
_BY_PROTOCOL: Final = {"grpc": "otlp_proto_grpc", "http/protobuf": "otlp_proto_http"}
#: The package that registers each well-known exporter name.
PACKAGES: Final = {
    "otlp_proto_grpc": "opentelemetry-exporter-otlp",  # gRPC and HTTP; the distro's own suggestion
    "otlp_proto_http": "opentelemetry-exporter-otlp-proto-http",
    "discord": "otel-discord",
    "console": "opentelemetry-sdk",
    "prometheus": "opentelemetry-exporter-prometheus",
}
#: What opentelemetry-distro sets when a variable is unset (``opentelemetry/distro/__init__.py``).
DISTRO_DEFAULTS: Final = {**{ENV[signal]: "otlp" for signal in SIGNALS}, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
_AUTO_INSTRUMENTATION: Final = "opentelemetry.instrumentation.auto_instrumentation"
_LOADER: Final = _AUTO_INSTRUMENTATION + "._load"
_SDK_FAILURE: Final = "Requested component '"

Available = Callable[[str, str], bool]


@dataclass(frozen=True)
class Missing:
    """A signal asks for an exporter no installed package registers."""

    signal: str
    name: str  # the entry-point name the SDK looks up, e.g. otlp_proto_grpc
    asked: str  # what the setting says, e.g. otlp

    @property
    def package(self) -> str | None:
        return PACKAGES.get(self.name)


def installed(signal: str, name: str) -> bool:
    """Whether an ``opentelemetry_<signal>_exporter`` entry point called ``name`` is installed."""
    return any(True for _ in entry_points(group=f"opentelemetry_{signal}_exporter", name=name))


def distro_installed() -> bool:
    """Whether a distro (``opentelemetry-distro`` or another) will fill in the defaults."""
    return any(True for _ in entry_points(group="opentelemetry_distro"))


def entry_point_name(asked: str, signal: str, environ: Mapping[str, str]) -> str:
    """The SDK's rule: ``otlp`` becomes the gRPC or HTTP name by the protocol setting; others stay."""
    if asked != "otlp":
        return asked
    protocol = (environ.get(_PROTOCOL_ENV[signal]) or environ.get("OTEL_EXPORTER_OTLP_PROTOCOL") or "grpc").strip()
    return _BY_PROTOCOL.get(protocol, asked)


def requested(signal: str, environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(as written, entry-point name)`` for each exporter ``signal`` names; empty for unset or none."""
    text = environ.get(ENV[signal], "")
    if not text.strip() or text.strip().lower() == "none":
        return []
    names = [part.strip() for part in text.split(",") if part.strip()]
    return [(name, entry_point_name(name, signal, environ)) for name in names]


def missing(environ: Mapping[str, str], available: Available = installed) -> list[Missing]:
    """Every requested exporter that ``available(signal, name)`` says is not installed, in signal order."""
    return [
        Missing(signal, name, asked)
        for signal in SIGNALS
        for asked, name in requested(signal, environ)
        if not available(signal, name)
    ]


def with_distro_defaults(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` as opentelemetry-distro leaves it: unset exporters become ``otlp`` over gRPC."""
    return {**DISTRO_DEFAULTS, **{key: value for key, value in environ.items() if value}}


def fix_line(found: list[Missing]) -> str:
    """One line: what is missing, what happens, and the flags or packages that fix it (no prefix)."""
    what = ", ".join(f"{m.signal} '{m.name}'" + (f" (from '{m.asked}')" if m.asked != m.name else "") for m in found)
    flags = " ".join(f"--{m.signal}_exporter none" for m in found)
    packages = sorted({m.package for m in found if m.package and m.package != "otel-discord"})
    line = (
        f"OpenTelemetry asks for exporters that are not installed: {what}; the SDK will "
        f"set up no signal at all (not even Discord). Fix: pass {flags} (or discord instead of none) "
        f"to opentelemetry-instrument"
    )
    if packages:
        line += f", or pip install {' '.join(packages)}"
    return line


class _ShortenSdkFailure(logging.Filter):
    """The SDK's tracebacks for a component we already explained, cut to one line.

    ``_load_configurators`` logs the failure with its traceback, re-raises, and
    ``_initialize`` logs it again with the same traceback: the first record is dropped
    (the second says the same), the second keeps its message and the error's text.
    """

    def __init__(self, names: frozenset[str]) -> None:
        super().__init__()
        self._names = names

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        text = str(error) if error is not None else ""
        if not (
            isinstance(error, RuntimeError)
            and text.startswith(_SDK_FAILURE)
            and text[len(_SDK_FAILURE) :].split("'", 1)[0] in self._names
        ):
            return True
        if record.name == _LOADER:
            return False
        record.msg, record.args = f"{record.getMessage()}: {text} (see the otel-discord line above)", None
        record.exc_info, record.exc_text = None, None
        return True


_checked = False


def warn_if_missing(environ: Mapping[str, str] | None = None, available: Available = installed) -> bool:
    """Under ``opentelemetry-instrument``, log the fix line once if a requested exporter is missing.

    Returns whether it warned. Never raises: this runs while the SDK imports our exporter.
    """
    global _checked
    if _checked or _AUTO_INSTRUMENTATION not in sys.modules:
        return False
    _checked = True
    try:
        from otel_discord.health.log import get_logger

        found = missing(os.environ if environ is None else environ, available)
        if not found:
            return False
        get_logger("exporters").error("%s", fix_line(found))
        shorten = _ShortenSdkFailure(frozenset(m.name for m in found))
        for name in (_LOADER, _AUTO_INSTRUMENTATION):
            logging.getLogger(name).addFilter(shorten)
        return True
    except Exception:  # a check must never break the SDK's own start-up
        return False
