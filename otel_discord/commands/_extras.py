"""Which optional extra a missing module belongs to, and the one line that says how to install it.

The core install (``pip install otel-discord``) carries only what the exporters need.
A subcommand that needs more (``preview`` the strict server's ``jsonschema``, ``serve``
the OTLP decoding and waitress) must say which extra to install instead of ending in a
``ModuleNotFoundError`` traceback. The package is not on a package index yet, so the
hint also gives the form that works from a clone.
"""

from __future__ import annotations

from typing import Final

#: Top-level module (or dotted prefix) → the extra of pyproject.toml that installs it.
EXTRA_OF_MODULE: Final = {
    "jsonschema": "testing",
    "waitress": "gateway",
    "google": "gateway",  # googleapis-common-protos (google.rpc.Status)
    "opentelemetry.proto": "gateway",
    "matplotlib": "charts",
}


def extra_for(module: str | None) -> str | None:
    """The extra that provides ``module`` (as in ``ModuleNotFoundError.name``), or None."""
    if not module:
        return None
    for prefix, extra in EXTRA_OF_MODULE.items():
        if module == prefix or module.startswith(prefix + "."):
            return extra
    return None


def install_hint(extra: str) -> str:
    """``pip install 'otel-discord[testing]'`` and the from-a-clone form."""
    return f"pip install 'otel-discord[{extra}]' (or, from a clone of the repository: pip install '.[{extra}]')"


def missing_extra_line(command: str, extra: str, module: str | None) -> str:
    """The one line a command prints when ``module`` of ``extra`` is not installed."""
    missing = f" ({module} is not installed)" if module else ""
    return f"otel-discord {command}: needs the '{extra}' extra{missing}: {install_hint(extra)}"
