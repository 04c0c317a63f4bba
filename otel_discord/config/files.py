"""The config file: reading it, expanding ``${VAR}``, and the helpers every section parses with.

Every stage that reads a section of the file (routes, schedules, filters, mentions,
summaries, rules) walks it with ``mapping``, ``check_keys`` and ``as_list`` and reports
with ``config_error``, so every error names its key path the same way:
``config file routes[2].match.level: unknown level 'loud'``.

A YAML syntax error keeps only PyYAML's problem and its line and column: PyYAML's
snippet of the offending line would print whatever that line holds, an inline
webhook token included.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from otel_discord import environment_variables as env
from otel_discord.config.errors import ConfigError

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def config_error(path: str, message: str) -> ConfigError:
    """``ConfigError("config file <path>: <message>")``: every section's errors read the same."""
    return ConfigError(f"config file {path}: {message}")


def as_list(value: Any) -> list[Any]:
    """A scalar or a list, as a list (``None`` → ``[]``)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


def check_keys(raw: Mapping[str, Any], allowed: Sequence[str], path: str) -> None:
    """Raise naming the first key of ``raw`` that is not in ``allowed`` (a typo must not pass silently)."""
    for key in raw:
        if key not in allowed:
            raise config_error(f"{path}.{key}", f"unknown key (expected one of: {', '.join(allowed)})")


def mapping(raw: Any, path: str) -> Mapping[str, Any]:
    """``raw`` if it is a mapping (``None`` → empty), else a ConfigError naming ``path``."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise config_error(path, f"must be a mapping, got {type(raw).__name__}")
    return raw


def load_file(path: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    """Read the YAML config file; raise ``ConfigError`` naming the file on any problem."""
    import yaml  # only needed when a file is configured

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{env.OTEL_EXPORTER_DISCORD_CONFIG}: cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{env.OTEL_EXPORTER_DISCORD_CONFIG}: {path} is not valid YAML: {yaml_problem(exc)}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{env.OTEL_EXPORTER_DISCORD_CONFIG}: {path} must hold a mapping at the top level")
    expanded: dict[str, Any] = expand_env_refs(data, environ, "")
    return expanded


def yaml_problem(exc: Exception) -> str:
    """PyYAML's problem and position (``mapping values are not allowed here at line 3, column 12``).

    Never the snippet: it quotes the offending line, which may hold a token.
    """
    problem = getattr(exc, "problem", None)
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    text = str(problem) if problem else type(exc).__name__
    if mark is not None:
        text += f" at line {mark.line + 1}, column {mark.column + 1}"
    return text


def expand_env_refs(value: Any, environ: Mapping[str, str], where: str) -> Any:
    """Replace ``${VAR}`` in file values, so tokens stay in the environment."""
    if isinstance(value, str):

        def lookup(match: re.Match[str]) -> str:
            var = match.group(1)
            if var not in environ:
                raise ConfigError(f"config file {where}: environment variable {var} is not set")
            return environ[var]

        return _ENV_REF.sub(lookup, value)
    if isinstance(value, Mapping):
        return {k: expand_env_refs(v, environ, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env_refs(v, environ, f"{where}[{i}]") for i, v in enumerate(value)]
    return value
