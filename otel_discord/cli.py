"""The ``otel-discord`` command: one subcommand per module in ``otel_discord/commands``.

Each command module exposes ``add_arguments(parser)`` and ``run(args) -> int``; this
file only dispatches, so commands stay independent. Only the command being run is
imported: ``otel-discord --help`` and the commands of the core install (``doctor``,
``export``) work without the optional extras, and a command that needs one (``preview``
needs ``testing``, ``serve`` needs ``gateway``) says in one line which to install.

Exit status 2 means "not run as asked": bad arguments, invalid settings (a
``ConfigError``, printed as one line naming the setting) or a missing extra.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import import_module
from types import ModuleType
from typing import Final

from otel_discord.commands._extras import extra_for, missing_extra_line
from otel_discord.version import __version__

USAGE_ERROR: Final = 2


@dataclass(frozen=True)
class Command:
    """A subcommand: its ``--help`` line and the extra it needs beyond the core install."""

    help: str
    extra: str | None = None


COMMANDS: Final = {
    "doctor": Command(
        "check the settings, the exporters configured per signal and every webhook; "
        "--send-sample posts one notice of each kind"
    ),
    "preview": Command(
        "run a local Discord (webhooks + a live preview page) to see alerts without posting to Discord", extra="testing"
    ),
    "serve": Command("run the OTLP/HTTP bridge that a Collector exports to (gateway mode)", extra="gateway"),
    "export": Command("print the local audit log of business events as CSV or JSON"),
}


def _chosen(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv``: top-level options take no values, so it is the first word."""
    return next((word for word in argv if not word.startswith("-")), None)


def _import(name: str) -> ModuleType:
    return import_module(f"otel_discord.commands.{name}")


def build_parser(loaded: dict[str, ModuleType] | None = None) -> argparse.ArgumentParser:
    """Every subcommand is listed; only those in ``loaded`` get their own arguments."""
    parser = argparse.ArgumentParser(prog="otel-discord", description="OpenTelemetry → Discord alerts")
    parser.add_argument("--version", action="version", version=f"otel-discord {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="{" + ",".join(COMMANDS) + "}")
    for name, command in COMMANDS.items():
        module = (loaded or {}).get(name)
        description = command.help + (f" (needs the '{command.extra}' extra)" if command.extra else "")
        child = sub.add_parser(name, help=command.help, description=description)
        if module is not None:
            module.add_arguments(child)
            child.set_defaults(_run=module.run)
    return parser


def _missing(name: str, exc: ModuleNotFoundError) -> int | None:
    """Print the one-line hint for a dependency of an extra; None if ``exc`` is something else."""
    if (exc.name or "").startswith("otel_discord"):
        return None  # our own module is missing: a broken install, let the traceback show it
    extra = extra_for(exc.name) or COMMANDS[name].extra
    if extra is None:
        print(
            f"otel-discord {name}: {exc.name or exc} is not installed (an incomplete install?); "
            "reinstall otel-discord with pip",
            file=sys.stderr,
        )
    else:
        print(missing_extra_line(name, extra, exc.name), file=sys.stderr)
    return USAGE_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    name = _chosen(args_list)
    loaded: dict[str, ModuleType] = {}
    if name in COMMANDS:
        try:
            loaded[name] = _import(name)
        except ModuleNotFoundError as exc:
            status = _missing(name, exc)
            if status is None:
                raise
            return status
    args = build_parser(loaded).parse_args(args_list)
    from otel_discord.config import ConfigError

    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        print(f"otel-discord {args.command}: {exc}", file=sys.stderr)
        return USAGE_ERROR
    except ModuleNotFoundError as exc:
        status = _missing(args.command, exc)
        if status is None:
            raise
        return status


if __name__ == "__main__":
    sys.exit(main())
