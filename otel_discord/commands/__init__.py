"""Subcommands of the ``otel-discord`` command (see ``otel_discord/cli.py``)."""
