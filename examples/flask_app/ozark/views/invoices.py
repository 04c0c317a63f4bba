"""Invoice pages: list, create, show, edit, delete, mark paid."""

from __future__ import annotations

from datetime import date, datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from werkzeug.wrappers import Response

from .. import db, invoices
from ..auth import login_required
from ..models import Invoice
from ..money import format_eur, format_plain

bp = Blueprint("invoices", __name__)

_STATUSES = ("open", "overdue", "paid")


def _get_or_404(invoice_id: int) -> Invoice:
    invoice = db.session().get(Invoice, invoice_id)
    if invoice is None:
        abort(404, description=f"No invoice with id {invoice_id}.")
    return invoice


@bp.get("/")
def home() -> Response:
    return redirect(url_for("invoices.index"))


@bp.get("/invoices")
@login_required
def index() -> str:
    today = date.today()
    status = request.args.get("status", "")
    rows = db.session().scalars(select(Invoice).order_by(Invoice.number.desc())).all()
    if status in _STATUSES:
        rows = [invoice for invoice in rows if invoice.status(today) == status]
    totals = {name: format_eur(cents) for name, cents in invoices.totals(db.session(), today).items()}
    return render_template("invoices/list.html", invoices=rows, today=today, status=status, totals=totals)


@bp.route("/invoices/new", methods=["GET", "POST"])
@login_required
def create() -> str | Response | tuple[str, int]:
    if request.method == "GET":
        return render_template("invoices/form.html", invoice=None, form={}, errors={})
    data, errors = invoices.parse_form(request.form, date.today())
    if data is None:
        return render_template("invoices/form.html", invoice=None, form=request.form, errors=errors), 400
    invoice = invoices.create(db.session(), data)
    flash(f"Invoice #{invoice.number} created.", "success")
    return redirect(url_for("invoices.show", invoice_id=invoice.id))


@bp.get("/invoices/<int:invoice_id>")
@login_required
def show(invoice_id: int) -> str:
    invoice = _get_or_404(invoice_id)
    return render_template("invoices/show.html", invoice=invoice, today=date.today())


@bp.route("/invoices/<int:invoice_id>/edit", methods=["GET", "POST"])
@login_required
def edit(invoice_id: int) -> str | Response | tuple[str, int]:
    invoice = _get_or_404(invoice_id)
    if request.method == "GET":
        form = {
            "client": invoice.client,
            "amount": format_plain(invoice.amount_cents),
            "issue_date": invoice.issue_date.isoformat(),
            "due_date": invoice.due_date.isoformat(),
            "description": invoice.description,
        }
        return render_template("invoices/form.html", invoice=invoice, form=form, errors={})
    data, errors = invoices.parse_form(request.form, date.today())
    if data is None:
        return render_template("invoices/form.html", invoice=invoice, form=request.form, errors=errors), 400
    changed = invoices.update(db.session(), invoice, data)
    flash(f"Invoice #{invoice.number} saved." if changed else "Nothing changed.", "success")
    return redirect(url_for("invoices.show", invoice_id=invoice.id))


@bp.post("/invoices/<int:invoice_id>/delete")
@login_required
def delete(invoice_id: int) -> Response:
    invoice = _get_or_404(invoice_id)
    number = invoice.number
    invoices.delete(db.session(), invoice)
    flash(f"Invoice #{number} deleted.", "success")
    return redirect(url_for("invoices.index"))


@bp.post("/invoices/<int:invoice_id>/pay")
@login_required
def pay(invoice_id: int) -> Response:
    invoice = _get_or_404(invoice_id)
    if invoices.mark_paid(db.session(), invoice, datetime.now()):
        flash(f"Invoice #{invoice.number} marked as paid.", "success")
    else:
        flash(f"Invoice #{invoice.number} was already paid.", "info")
    return redirect(url_for("invoices.show", invoice_id=invoice.id))
