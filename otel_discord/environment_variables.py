"""Every ``OTEL_EXPORTER_DISCORD_*`` variable, documented once.

Registered under the ``opentelemetry_environment_variables`` entry point, so
``opentelemetry-instrument --help`` lists them as flags
(``--exporter_discord_webhook_url …``). A signal-specific variant
``OTEL_EXPORTER_DISCORD_{TRACES,LOGS,METRICS}_<NAME>`` overrides each one for one
exporter; a constructor argument overrides both.
"""

OTEL_EXPORTER_DISCORD_WEBHOOK_URL = "OTEL_EXPORTER_DISCORD_WEBHOOK_URL"
"""Webhook of the default channel. Required (here, per channel, or in the config file)."""

OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS = "OTEL_EXPORTER_DISCORD_ALLOWED_HOSTS"
"""Comma-separated ``host[:port]`` accepted besides discord.com; http only for loopback."""

OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS = "OTEL_EXPORTER_DISCORD_SLOW_QUERY_MS"
"""A database span at least this long is a slow-query notice. Default 500."""

OTEL_EXPORTER_DISCORD_SLOW_REQUEST_MS = "OTEL_EXPORTER_DISCORD_SLOW_REQUEST_MS"
"""A server span at least this long is a slow-request notice. Default 2000."""

OTEL_EXPORTER_DISCORD_TIMEOUT = "OTEL_EXPORTER_DISCORD_TIMEOUT"
"""HTTP timeout of one Discord request, in seconds. Default 10."""

OTEL_EXPORTER_DISCORD_QUEUE_SIZE = "OTEL_EXPORTER_DISCORD_QUEUE_SIZE"
"""Notices held in memory awaiting delivery; beyond it they are dropped and counted. Default 10000."""

OTEL_EXPORTER_DISCORD_TRACE_URL = "OTEL_EXPORTER_DISCORD_TRACE_URL"
"""Template turning a trace id into a link, e.g. ``http://localhost:16686/trace/{trace_id}``."""

OTEL_EXPORTER_DISCORD_SPOOL_DIR = "OTEL_EXPORTER_DISCORD_SPOOL_DIR"
"""Directory for the delivery spool and the dropped-notices log. Default: the user's state dir."""

OTEL_EXPORTER_DISCORD_CONFIG = "OTEL_EXPORTER_DISCORD_CONFIG"
"""Path of an optional YAML config file (channels, routes, filters)."""

OTEL_EXPORTER_DISCORD_USERNAME = "OTEL_EXPORTER_DISCORD_USERNAME"
"""Name the messages are posted under. Default: the webhook's own name."""

OTEL_EXPORTER_DISCORD_AVATAR_URL = "OTEL_EXPORTER_DISCORD_AVATAR_URL"
"""Avatar image URL for the messages. Default: the webhook's own avatar."""

OTEL_EXPORTER_DISCORD_MASK_PII = "OTEL_EXPORTER_DISCORD_MASK_PII"
"""Mask e-mail addresses, IBANs, card and phone numbers in every text sent. Default true."""

OTEL_EXPORTER_DISCORD_ENVIRONMENT = "OTEL_EXPORTER_DISCORD_ENVIRONMENT"
"""Environment shown on notices when the resource has no ``deployment.environment``."""
