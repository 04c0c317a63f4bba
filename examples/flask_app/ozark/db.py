"""Engine, sessions and the request-scoped session of the Flask app."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app, g
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from .models import Base

_EXTENSION_KEY = "ozark.db"


class Database:
    """One engine and session factory per app; background threads open their own sessions."""

    def __init__(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # Created inside create_app, i.e. after opentelemetry-instrument has patched
        # create_engine, so every query of the app becomes a span.
        self.engine: Engine = create_engine(url)
        self.sessions: sessionmaker[Session] = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def sqlite_path(self) -> Path | None:
        """The database file, or None when the database is not a SQLite file."""
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(url.database)

    def create_all(self) -> None:
        Base.metadata.create_all(self.engine)


def init_app(app: Flask, database: Database) -> None:
    app.extensions[_EXTENSION_KEY] = database
    app.teardown_appcontext(_close_session)


def get_database(app: Flask | None = None) -> Database:
    """The ``Database`` of ``app`` (default: the current app)."""
    return (app or current_app).extensions[_EXTENSION_KEY]


def session() -> Session:
    """The session of the current request, opened on first use and closed at teardown."""
    if "db_session" not in g:
        g.db_session = get_database().sessions()
    return g.db_session


def _close_session(_exc: BaseException | None) -> None:
    db_session = g.pop("db_session", None)
    if db_session is not None:
        db_session.close()
