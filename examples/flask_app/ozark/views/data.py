"""Import invoices from CSV/Excel, export them as CSV."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, render_template, request
from werkzeug.wrappers import Response

from .. import db
from ..auth import login_required
from ..export import export_csv
from ..importer import import_invoices

bp = Blueprint("data", __name__)

#: Upload size cap: a year of invoices is a few hundred kB; anything bigger is a mistake.
MAX_UPLOAD_BYTES = 5 * 1024 * 1024


@bp.route("/import", methods=["GET", "POST"])
@login_required
def upload() -> str | tuple[str, int]:
    if request.method == "GET":
        return render_template("import.html", result=None)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return render_template("import.html", result=None, error="Choose a .csv or .xlsx file."), 400
    data = upload.stream.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        return render_template("import.html", result=None, error="The file is larger than 5 MB."), 413
    result = import_invoices(db.session(), upload.filename, data, date.today())
    # 422 when nothing could be imported, so scripts notice without parsing the page.
    status = 200 if result.rows_imported else 422
    return render_template("import.html", result=result), status


@bp.get("/export.csv")
@login_required
def download() -> Response:
    filename, body, _rows = export_csv(db.session())
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})
