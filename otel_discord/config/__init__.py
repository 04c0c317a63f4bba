"""Settings: one place that reads the environment, the config file and constructor overrides.

``settings`` resolves ``OTEL_EXPORTER_DISCORD_*`` variables, the YAML file and keyword
overrides into one frozen ``Settings`` (precedence: constructor, environment, file,
default). The grammars every stage shares live here too, so a value means the same thing
wherever it is read: ``parse`` (durations, time zones, channel names, numbers), ``files``
(the config file's sections and their errors), ``webhook_url`` (the one credential) and
``reload`` (a rotated webhook without a restart).
"""

from otel_discord.config.errors import ConfigError
from otel_discord.config.parse import parse_bool, parse_int_positive
from otel_discord.config.settings import (
    Channel,
    Settings,
    default_state_dir,
    parse_username,
    resolve,
    service_name,
)

__all__ = [
    "Channel",
    "ConfigError",
    "Settings",
    "default_state_dir",
    "parse_bool",
    "parse_int_positive",
    "parse_username",
    "resolve",
    "service_name",
]
