"""Triage from the host page: acknowledge, ignore or reopen a (host, chain) pair, with a note.

The same write as ``PUT /v1/triage/pairs/<hostname>/<fingerprint>`` (``alerts.triage``),
recorded under the signed-in token's name; CSRF was checked by the gate. The answer is a 303
back to the page the form came from (a local path only), which shows the new state.
"""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from werkzeug.wrappers import Response

from collector.alerts import triage
from collector.web.context import services
from collector.web.dashboard import forms
from collector.web.dashboard.blueprint import bp
from collector.web.dashboard.pages import fingerprint_arg, hostname_arg
from collector.web.dashboard.security import safe_next

DONE = {"open": "reopened", "acknowledged": "acknowledged", "ignored": "ignored"}


@bp.post("/hosts/<hostname>/chains/<fingerprint>/triage")
def triage_pair(hostname: str, fingerprint: str) -> Response:
    name, fp = hostname_arg(hostname), fingerprint_arg(fingerprint.lower())
    change = forms.triage_form(request.form)
    reads = services().reads
    triage.set_pair(reads.client, reads.keys, name, fp, change.state, change.note,
                    g.analyst.name)
    flash(f"Chain {fp[:16]}… on {name} {DONE[change.state]}.")
    back = safe_next(request.form.get("back")) or url_for("dashboard.host", hostname=name)
    return redirect(back, 303)
