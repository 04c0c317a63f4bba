"""The ``otel-discord`` command: one subcommand per module in ``otel_discord/commands``.

Each command module exposes ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``; this file only dispatches, so commands stay independent.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module
from types import ModuleType

from otel_discord.version import __version__

COMMANDS = ("doctor", "preview", "serve", "export")


def _load(name: str) -> ModuleType | None:
    try:
        return import_module(f"otel_discord.commands.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"otel_discord.commands.{name}":
            return None
        raise


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="otel-discord", description="OpenTelemetry → Discord alerts")
    parser.add_argument("--version", action="version", version=f"otel-discord {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        module = _load(name)
        if module is None:
            continue
        command = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
