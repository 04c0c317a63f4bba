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
"""Directory for the delivery spool and the dropped-notices log. Default: one per service,
``~/.local/state/otel-discord/<service.name>`` (``$XDG_STATE_HOME`` if set; the name from
``OTEL_SERVICE_NAME`` or ``OTEL_RESOURCE_ATTRIBUTES``), so two apps never share group state."""

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

OTEL_EXPORTER_DISCORD_APP_PACKAGES = "OTEL_EXPORTER_DISCORD_APP_PACKAGES"
"""The app's own top-level packages, comma-separated (``shop,shop_jobs``; ``com.example`` in Java): an error's
Location is their innermost frame. Default: the app is told apart from its libraries by package (docs/stacks.md)."""

# --- metrics: summaries, thresholds, system events, jobs (README "Summaries ...") -----------

OTEL_EXPORTER_DISCORD_SUMMARY_SCHEDULE = "OTEL_EXPORTER_DISCORD_SUMMARY_SCHEDULE"
"""When summaries are posted: ``daily@18:00`` (default), ``every 15m``, ``weekly@mon 09:00``, ``monthly@1 09:00``,
``quarterly@09:00``; comma-separated for several, ``off`` for none."""

OTEL_EXPORTER_DISCORD_TIMEZONE = "OTEL_EXPORTER_DISCORD_TIMEZONE"
"""IANA time zone of schedules, quiet hours, digests and summaries ("today", month, quarter).
Default: the host's zone (``TZ``, ``/etc/localtime``), else UTC."""

OTEL_EXPORTER_DISCORD_CURRENCY = "OTEL_EXPORTER_DISCORD_CURRENCY"
"""Currency of revenue figures in summaries. Default EUR."""

OTEL_EXPORTER_DISCORD_SUMMARY_CHART = "OTEL_EXPORTER_DISCORD_SUMMARY_CHART"
"""Attach a PNG traffic chart to summaries (needs matplotlib, else a sparkline). Default true."""

OTEL_EXPORTER_DISCORD_ALERT_P95_MS = "OTEL_EXPORTER_DISCORD_ALERT_P95_MS"
"""Alert when the p95 response time over the alert window exceeds this many milliseconds."""

OTEL_EXPORTER_DISCORD_ALERT_ERROR_RATE = "OTEL_EXPORTER_DISCORD_ALERT_ERROR_RATE"
"""Alert when the percentage of 5xx responses over the alert window exceeds this."""

OTEL_EXPORTER_DISCORD_ALERT_MEMORY_MB = "OTEL_EXPORTER_DISCORD_ALERT_MEMORY_MB"
"""Alert when an instance's memory (system-metrics instrumentation) exceeds this many MB."""

OTEL_EXPORTER_DISCORD_ALERT_CPU_PERCENT = "OTEL_EXPORTER_DISCORD_ALERT_CPU_PERCENT"
"""Alert when an instance's CPU (system-metrics instrumentation) exceeds this percentage."""

OTEL_EXPORTER_DISCORD_ALERT_WINDOW = "OTEL_EXPORTER_DISCORD_ALERT_WINDOW"
"""Window the alert values are computed over (``5m``, ``1h``). Default 5m."""

OTEL_EXPORTER_DISCORD_ALERT_MIN_REQUESTS = "OTEL_EXPORTER_DISCORD_ALERT_MIN_REQUESTS"
"""Fewer requests in the window leave p95 and error-rate alerts unchanged. Default 20."""

OTEL_EXPORTER_DISCORD_ALERT_HYSTERESIS = "OTEL_EXPORTER_DISCORD_ALERT_HYSTERESIS"
"""An alert resolves below limit × (1 − this). Default 0.1."""

OTEL_EXPORTER_DISCORD_JOBS = "OTEL_EXPORTER_DISCORD_JOBS"
"""Jobs expected to report ``job.completed``: ``name:every[:grace]``, comma-separated (``backup:24h:1h``)."""

OTEL_EXPORTER_DISCORD_MILESTONES = "OTEL_EXPORTER_DISCORD_MILESTONES"
"""Financial milestones: ``name:figure:period:target``, comma-separated (``Q revenue:revenue:quarter:100000``)."""

OTEL_EXPORTER_DISCORD_BUSINESS_METRICS = "OTEL_EXPORTER_DISCORD_BUSINESS_METRICS"
"""The app's own metrics as summary figures: ``figure=metric.name``, comma-separated."""

OTEL_EXPORTER_DISCORD_SYSTEM_EVENTS = "OTEL_EXPORTER_DISCORD_SYSTEM_EVENTS"
"""Post startup, shutdown and unclean-stop notices (once per service instance). Default true."""

OTEL_EXPORTER_DISCORD_HEALTH_HEARTBEAT = "OTEL_EXPORTER_DISCORD_HEALTH_HEARTBEAT"
"""Post a "still running" notice on this schedule (``every 6h``, ``daily@09:00``). Default off."""

OTEL_EXPORTER_DISCORD_SERVICE_NAME = "OTEL_EXPORTER_DISCORD_SERVICE_NAME"
"""Service named in system events. Default: the SDK's resource (``OTEL_SERVICE_NAME``)."""

# --- logs and business events ---------------------------------------------------------

OTEL_EXPORTER_DISCORD_LOG_MIN_LEVEL = "OTEL_EXPORTER_DISCORD_LOG_MIN_LEVEL"
"""Log records at this level or above become notices (business events at any level). Default warning; ``off``."""

OTEL_EXPORTER_DISCORD_LOG_ERROR_HOLD_MS = "OTEL_EXPORTER_DISCORD_LOG_ERROR_HOLD_MS"
"""How long a logged exception waits for the span of its trace, so one failure gives one alert. Default 10000."""

OTEL_EXPORTER_DISCORD_AMOUNT_STYLE = "OTEL_EXPORTER_DISCORD_AMOUNT_STYLE"
"""How amounts are written: ``en`` (€2,450.00) or ``nl`` (€2.450,00). Default en."""

OTEL_EXPORTER_DISCORD_HIGH_VALUE_AMOUNT = "OTEL_EXPORTER_DISCORD_HIGH_VALUE_AMOUNT"
"""A finance event at or above this amount is a HIGH_VALUE_TRANSACTION alert. Default 5000; 0 = off."""

OTEL_EXPORTER_DISCORD_DUPLICATE_WINDOW_S = "OTEL_EXPORTER_DISCORD_DUPLICATE_WINDOW_S"
"""Same client and amount created twice within this many seconds is SUSPICIOUS. Default 600."""

OTEL_EXPORTER_DISCORD_FAILED_LOGIN_LIMIT = "OTEL_EXPORTER_DISCORD_FAILED_LOGIN_LIMIT"
"""This many failed logins from one address within the window raise a SECURITY alert. Default 5."""

OTEL_EXPORTER_DISCORD_FAILED_LOGIN_WINDOW_S = "OTEL_EXPORTER_DISCORD_FAILED_LOGIN_WINDOW_S"
"""The failed-login window in seconds. Default 600."""

# --- routing and filters ----------------------------------------------------------------

OTEL_EXPORTER_DISCORD_PRESET = "OTEL_EXPORTER_DISCORD_PRESET"
"""Channel setup: simple, focused, detailed, enterprise or none. Default focused when the file names its channels."""

OTEL_EXPORTER_DISCORD_MIN_AMOUNT = "OTEL_EXPORTER_DISCORD_MIN_AMOUNT"
"""Finance events below this amount are not posted (they stay in the audit log). Default 1000; 0 = off."""

OTEL_EXPORTER_DISCORD_RATE_CAP = "OTEL_EXPORTER_DISCORD_RATE_CAP"
"""New messages per channel per minute; beyond it notices fold into a digest. Default 10; 0 = no cap."""

OTEL_EXPORTER_DISCORD_MASK_IP = "OTEL_EXPORTER_DISCORD_MASK_IP"
"""IP addresses in messages: keep, mask (last part) or hash. Default mask."""

# --- delivery: spool, grouping, limits, reload -------------------------------------------

OTEL_EXPORTER_DISCORD_SPOOL = "OTEL_EXPORTER_DISCORD_SPOOL"
"""`false` keeps undelivered notices in memory only (lost on restart; no coordination between processes). Default true."""

OTEL_EXPORTER_DISCORD_SPOOL_MAX_AGE = "OTEL_EXPORTER_DISCORD_SPOOL_MAX_AGE"
"""Notices waiting longer are dropped (to `dropped.jsonl`). Default 24h."""

OTEL_EXPORTER_DISCORD_SPOOL_MAX_ROWS = "OTEL_EXPORTER_DISCORD_SPOOL_MAX_ROWS"
"""At most this many waiting notices; the oldest beyond it are dropped. Repeats of one problem take one row. Default 10000."""

OTEL_EXPORTER_DISCORD_REPLAY_COLLAPSE_AFTER = "OTEL_EXPORTER_DISCORD_REPLAY_COLLAPSE_AFTER"
"""Notices that waited longer are delivered as one summary message, not one by one. Default 5m."""

OTEL_EXPORTER_DISCORD_GROUP_WINDOW = "OTEL_EXPORTER_DISCORD_GROUP_WINDOW"
"""Repeats within this time of a grouped message edit it; later ones start a new message. Default 10m."""

OTEL_EXPORTER_DISCORD_GROUP_EDIT_INTERVAL = "OTEL_EXPORTER_DISCORD_GROUP_EDIT_INTERVAL"
"""At most one edit per grouped message per interval (the last count is always written). Default 10s."""

OTEL_EXPORTER_DISCORD_CHANNEL_LIMIT = "OTEL_EXPORTER_DISCORD_CHANNEL_LIMIT"
"""Messages and edits per `CHANNEL_WINDOW` into one Discord channel (Discord's hidden limit). Default 30."""

OTEL_EXPORTER_DISCORD_CHANNEL_WINDOW = "OTEL_EXPORTER_DISCORD_CHANNEL_WINDOW"
"""The window of `CHANNEL_LIMIT`. Default 60s."""

OTEL_EXPORTER_DISCORD_RELOAD_INTERVAL = "OTEL_EXPORTER_DISCORD_RELOAD_INTERVAL"
"""How often the config file is checked for changes; `0` turns polling off (SIGHUP still works). Default 5s."""

# --- gateway mode: who may post to `otel-discord serve` (otel_discord/bridge/auth.py) ------

OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN = "OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN"
"""Bearer token the Collector must send (`Authorization: Bearer …`); at least 16 characters. Required off loopback."""

OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN_FILE = "OTEL_EXPORTER_DISCORD_BRIDGE_TOKEN_FILE"
"""File holding the bridge token (a mounted secret), instead of `BRIDGE_TOKEN`; `--token-file` overrides it."""

OTEL_EXPORTER_DISCORD_BRIDGE_TLS_CERT = "OTEL_EXPORTER_DISCORD_BRIDGE_TLS_CERT"
"""PEM certificate (chain) the bridge serves HTTPS with (TLS 1.2+); `--tls-cert` overrides it. Default: plain HTTP."""

OTEL_EXPORTER_DISCORD_BRIDGE_TLS_KEY = "OTEL_EXPORTER_DISCORD_BRIDGE_TLS_KEY"
"""PEM private key of `BRIDGE_TLS_CERT`, unencrypted, if not in the certificate file; `--tls-key` overrides it."""
