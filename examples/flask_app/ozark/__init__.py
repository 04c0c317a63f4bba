"""Ozark Finances: a small Flask + SQLAlchemy bookkeeping app (invoices, BTW, imports).

It is the example application of otel-discord and deliberately knows nothing about
it: telemetry comes only from running it under ``opentelemetry-instrument``.

Run it from the repository root::

    flask --app examples.flask_app.ozark run --port 5000
"""

from __future__ import annotations

import logging
import sys
from datetime import date
from typing import Any

import click
from flask import Flask, g

from . import auth, config, db, events
from .backup import run_backup
from .money import format_eur
from .overdue import OverdueChecker, check_overdue
from .seed import seed_demo_data
from .views import btw as btw_views
from .views import data as data_views
from .views import invoices as invoice_views
from .views import misc as misc_views

__all__ = ["create_app"]

_logger = logging.getLogger("ozark.app")
_CHECKER_KEY = "ozark.overdue_checker"


def create_app(config_overrides: dict[str, Any] | None = None) -> Flask:
    """Build the app; ``config_overrides`` wins over ``OZARK_*`` environment variables.

    Creates the tables and seeds demo data into an empty database. The overdue
    checker thread starts with the first request, not here, so that CLI commands
    and imports of the app do not start background work.
    """
    _configure_logging()  # first, so that config warnings are formatted like everything else
    app = Flask(__name__)
    app.config.update(config.resolve(app.instance_path, config_overrides))
    app.config["MAX_CONTENT_LENGTH"] = 6 * 1024 * 1024
    if app.config["SECRET_KEY"] == config.DEV_SECRET_KEY:
        _logger.warning("using the built-in development secret key; set %s in production", config.OZARK_SECRET_KEY)

    database = db.Database(app.config["DATABASE_URL"])
    database.create_all()
    db.init_app(app, database)
    if app.config["SEED_DEMO_DATA"]:
        with database.sessions() as session:
            seed_demo_data(session, date.today())

    auth.init_app(app)
    for blueprint in (invoice_views.bp, btw_views.bp, data_views.bp, misc_views.bp):
        app.register_blueprint(blueprint)
    app.jinja_env.globals["current_user"] = lambda: g.get("user")
    app.jinja_env.filters["eur"] = format_eur

    interval = app.config["OVERDUE_CHECK_INTERVAL"]
    if interval > 0:
        checker = OverdueChecker(database.sessions, interval)
        app.extensions[_CHECKER_KEY] = checker

        @app.before_request
        def _start_overdue_checker() -> None:
            # Cheap after the first request: one lock and an is_alive(). Returns None on
            # purpose: a before_request hook that returns a value replaces the response.
            checker.start()

    _register_commands(app, database)
    return app


def overdue_checker(app: Flask) -> OverdueChecker | None:
    """The app's background checker, or None when ``OVERDUE_CHECK_INTERVAL`` is 0."""
    return app.extensions.get(_CHECKER_KEY)


def _configure_logging() -> None:
    """Let INFO business events through and show them on the console.

    The root logger keeps Python's default level (WARNING); the ``ozark`` logger sets
    INFO itself, and its records still propagate to the root logger's handlers, where
    ``opentelemetry-instrument`` puts its logging handler.
    """
    logger = logging.getLogger(events.EVENT_LOGGER)
    logger.setLevel(logging.INFO)
    if not any(isinstance(handler, _ConsoleHandler) for handler in logger.handlers):
        console = _ConsoleHandler()
        console.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
        logger.addHandler(console)


class _ConsoleHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to the current ``sys.stderr``, which test runners swap, not the one at creation."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def _register_commands(app: Flask, database: db.Database) -> None:
    @app.cli.command("backup")
    def backup_command() -> None:
        """Run the nightly backup job now (what cron would call)."""
        result = run_backup(database, app.config["BACKUP_DIR"])
        if not result.ok:
            raise click.ClickException(f"backup failed: {result.error}")
        click.echo(f"backup written to {result.path} ({result.duration_ms:.0f} ms)")

    @app.cli.command("check-overdue")
    def check_overdue_command() -> None:
        """Run one overdue-invoice check now."""
        flagged = check_overdue(database.sessions, date.today())
        click.echo(f"{len(flagged)} invoice(s) newly overdue: {', '.join(flagged) or '-'}")
