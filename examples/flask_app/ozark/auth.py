"""Login, logout and the idle timeout, on Flask's signed-cookie session."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Flask, current_app, flash, g, redirect, render_template, request, session, url_for
from opentelemetry import trace
from sqlalchemy import select
from werkzeug.security import check_password_hash
from werkzeug.wrappers import Response

from . import db, events
from .models import User

bp = Blueprint("auth", __name__)
_View = TypeVar("_View", bound=Callable[..., Any])


def init_app(app: Flask) -> None:
    app.before_request(load_user)
    app.register_blueprint(bp)


def load_user() -> None:
    """Put the logged-in ``User`` (or None) on ``g``, expiring idle sessions.

    Also tags the request's server span with ``enduser.id``. Only the OTel API is
    used: without ``opentelemetry-instrument`` the current span is a no-op.
    """
    g.user = None
    user_id = session.get("user_id")
    if user_id is None:
        return
    user = db.session().get(User, user_id)
    if user is None:  # deleted since login
        session.clear()
        return
    now = time.time()
    idle = now - float(session.get("last_seen", 0))
    timeout = current_app.config["SESSION_TIMEOUT"]
    if timeout and idle > timeout:
        session.clear()
        events.emit(
            "auth.session_timeout",
            f"Session of {user.username} expired after {idle / 60:.0f} minutes idle",
            {"user.name": user.username, "auth.idle_seconds": int(idle), "client.address": request.remote_addr},
        )
        flash("Your session expired. Please log in again.", "warning")
        return
    session["last_seen"] = now
    g.user = user
    trace.get_current_span().set_attribute("enduser.id", user.username)


def login_required(view: _View) -> _View:
    """Send anonymous visitors to the login page, then back."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if g.get("user") is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def _safe_next(target: str | None) -> str:
    # Only same-site paths: "//evil.example" or "https://..." would make this an open redirect.
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("invoices.index")


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response | tuple[str, int]:
    if request.method == "GET":
        return render_template("login.html", next=request.args.get("next", ""))
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    user = db.session().scalar(select(User).where(User.username == username)) if username else None
    if user is None or not check_password_hash(user.password_hash, password):
        events.emit(
            "auth.login_failed",
            f"Failed login for {username or '(empty)'} from {request.remote_addr}",
            {
                "user.name": username,
                "client.address": request.remote_addr,
                "auth.reason": "unknown user" if user is None else "wrong password",
            },
            level=logging.WARNING,
        )
        # One message for both cases so the page does not reveal which usernames exist.
        return render_template(
            "login.html",
            error="Unknown username or wrong password.",
            username=username,
            next=request.form.get("next", ""),
        ), 401
    session.clear()  # a fresh session on login prevents session fixation
    session["user_id"] = user.id
    session["last_seen"] = time.time()
    g.user = user
    trace.get_current_span().set_attribute("enduser.id", user.username)
    events.emit(
        "auth.login",
        f"{user.username} logged in from {request.remote_addr}",
        {"user.name": user.username, "client.address": request.remote_addr},
    )
    return redirect(_safe_next(request.form.get("next")))


@bp.route("/logout", methods=["POST"])
def logout() -> Response:
    user = g.get("user")
    session.clear()
    if user is not None:
        events.emit(
            "auth.logout",
            f"{user.username} logged out",
            {"user.name": user.username, "client.address": request.remote_addr},
        )
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))
