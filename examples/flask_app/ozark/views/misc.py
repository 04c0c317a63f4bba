"""Feedback form, reports (one slow, one broken), the backup job, and a health check."""

from __future__ import annotations

import time
from datetime import date
from typing import Final

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import db, events, reports
from ..auth import login_required
from ..backup import list_backups, run_backup
from ..db import get_database
from ..models import FeedbackMessage

bp = Blueprint("misc", __name__)

FEEDBACK_TOPICS: Final = ("question", "bug", "billing", "other")


@bp.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@bp.route("/feedback", methods=["GET", "POST"])
def feedback() -> str | tuple[str, int]:
    """Public contact form; logged-in users get their name filled in."""
    user = g.get("user")
    if request.method == "GET":
        form = {"name": user.display_name if user else "", "topic": "question"}
        return render_template("feedback.html", form=form, errors={}, topics=FEEDBACK_TOPICS, sent=False)
    form = {key: request.form.get(key, "").strip() for key in ("name", "email", "topic", "message")}
    errors = {}
    if not form["name"]:
        errors["name"] = "Please tell us your name."
    if "@" not in form["email"] or "." not in form["email"].rpartition("@")[2]:
        errors["email"] = "Please enter an e-mail address we can answer to."
    if form["topic"] not in FEEDBACK_TOPICS:
        errors["topic"] = "Choose a topic."
    if len(form["message"]) < 5:
        errors["message"] = "The message is too short."
    if errors:
        return render_template("feedback.html", form=form, errors=errors, topics=FEEDBACK_TOPICS, sent=False), 400
    session = db.session()
    session.add(FeedbackMessage(**form))
    session.commit()
    # The name, e-mail address and text stay in the database: events carry no personal data.
    events.emit(
        "form.submitted",
        f"Feedback received ({form['topic']})",
        {"form.name": "feedback", "form.topic": form["topic"], "form.message_length": len(form["message"])},
    )
    return render_template("feedback.html", form={}, errors={}, topics=FEEDBACK_TOPICS, sent=True)


@bp.get("/reports/slow")
@login_required
def slow_report() -> str:
    size = current_app.config["SLOW_REPORT_SIZE"]
    started = time.perf_counter()
    report = reports.cashflow_simulation(db.session(), size)
    elapsed_ms = (time.perf_counter() - started) * 1000
    return render_template("report_slow.html", report=report, elapsed_ms=elapsed_ms)


@bp.get("/boom")
@login_required
def boom() -> str:
    """The margin report; it raises ValueError (see ``reports.margin_report``), so this is a 500."""
    margins = reports.margin_report(db.session(), date.today())
    return render_template("report_margin.html", margins=margins)


@bp.get("/jobs")
@login_required
def jobs() -> str:
    return render_template("jobs.html", backups=list_backups(current_app.config["BACKUP_DIR"]))


@bp.post("/jobs/backup")
@login_required
def backup_now() -> Response:
    result = run_backup(get_database(), current_app.config["BACKUP_DIR"])
    if result.ok:
        assert result.path is not None
        flash(f"Backup completed: {result.path.name} ({result.duration_ms:.0f} ms).", "success")
    else:
        flash(f"Backup failed: {result.error}", "error")
    return redirect(url_for("misc.jobs"))
