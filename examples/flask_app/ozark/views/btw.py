"""The BTW page: per quarter the calculated amount next to the amount actually paid."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from .. import btw, db
from ..auth import login_required
from ..money import AmountError, format_eur, parse_amount, to_cents

bp = Blueprint("btw", __name__)


@bp.get("/btw")
@login_required
def index() -> str:
    return render_template(
        "btw.html", quarters=btw.overview(db.session(), date.today()), errors={}, rate=int(btw.RATE * 100)
    )


@bp.post("/btw/<quarter>")
@login_required
def update(quarter: str) -> Response | tuple[str, int]:
    try:
        btw.quarter_bounds(quarter)
    except ValueError as exc:
        abort(404, description=str(exc))
    try:
        # Negative is allowed: a quarter with more credit notes than invoices gets a refund.
        manual_cents = to_cents(parse_amount(request.form.get("manual_amount", "")))
    except AmountError as exc:
        errors = {quarter: f"Amount: {exc}."}
        return render_template(
            "btw.html", quarters=btw.overview(db.session(), date.today()), errors=errors, rate=int(btw.RATE * 100)
        ), 400
    result = btw.record_manual_amount(db.session(), quarter, manual_cents, request.form.get("note", "").strip())
    flash(
        f"BTW {quarter}: {format_eur(manual_cents)} recorded (calculated {format_eur(result.calculated_cents)}).",
        "success",
    )
    return redirect(url_for("btw.index"))
