"""Triage and alerts routes of the analyst API (SPEC section 9), behind the same bearer token.

``PUT /v1/triage/pairs/<hostname>/<fingerprint>`` and ``PUT /v1/triage/issuers/<pin>`` take
``{"state", "note"}`` (strict: anything else is a 422 and nothing is stored) and record the
token's name as who. A pair need not have been reported yet: an analyst may triage a chain
ahead of its first report, so any valid hostname and fingerprint is accepted (a malformed one
is 404, as on every read). ``GET /v1/triage/audit`` pages the audit list (its cursor is an
offset: a change made between two pages shifts the next one by one, showing an entry twice),
``GET /v1/alerts`` the alert log, newest first (its cursor is the last stream id shown, so an
alert fired meanwhile never shifts a page).
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import Schema, ValidationError

from collector.aggregates.read.params import BadCursor, clamp_limit, decode_cursor, encode_cursor
from collector.alerts import triage
from collector.alerts.listing import alerts_page
from collector.intake.pins import canonical_pin
from collector.intake.rejection import Rejection
from collector.web.api import fingerprint_arg, hostname_arg, require_analyst
from collector.web.context import services
from collector.web.problems import not_found
from collector.web.schemas.triage import AlertQuery, AuditQuery, TriageChange

bp = Blueprint("triage", __name__, url_prefix="/v1")
bp.before_request(require_analyst)
BODY_MAX = 4096


def _query(schema: type[Schema]) -> dict[str, Any]:
    try:
        args: dict[str, Any] = schema().load(request.args.to_dict())
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"query": exc.messages}
        raise Rejection(400, "bad-query", "A query parameter is malformed.",
                        errors={str(k): [str(m) for m in (v if isinstance(v, list) else [v])][:3]
                                for k, v in list(messages.items())[:8]}) from None
    args["limit"] = clamp_limit(int(args["limit"]))
    return args


def _change() -> dict[str, Any]:
    """The validated body: JSON object with ``state`` and an optional ``note``."""
    if request.mimetype != "application/json":
        raise Rejection(415, "unsupported-media-type", "Send application/json.")
    if (request.content_length or 0) > BODY_MAX:
        raise Rejection(413, "body-too-large", "The body is over the size cap.")
    raw = request.stream.read(BODY_MAX + 1)
    if len(raw) > BODY_MAX:
        raise Rejection(413, "body-too-large", "The body is over the size cap.")
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Rejection(400, "malformed-json", "The body is not JSON.") from None
    if not isinstance(doc, dict):
        raise Rejection(422, "invalid-triage", "The body must be a JSON object.")
    try:
        found: dict[str, Any] = TriageChange().load(doc)
    except ValidationError as exc:
        errors = exc.messages if isinstance(exc.messages, dict) else {"body": exc.messages}
        raise Rejection(422, "invalid-triage", "Not a triage change this collector accepts.",
                        errors={str(k)[:64]: [str(m) for m in (v if isinstance(v, list)
                                                               else [v])][:3]
                                for k, v in list(errors.items())[:8]}) from None
    return found


@bp.put("/triage/pairs/<hostname>/<fingerprint>")
def put_pair(hostname: str, fingerprint: str) -> Response:
    name, fp = hostname_arg(hostname), fingerprint_arg(fingerprint.lower())
    body = _change()
    reads = services().reads
    doc = triage.set_pair(reads.client, reads.keys, name, fp, body["state"], body["note"],
                          g.token_name)
    return jsonify({"hostname": name, "fingerprint": fp, "triage": doc})


@bp.put("/triage/issuers/<path:pin>")
def put_issuer(pin: str) -> Response:
    canonical = canonical_pin(pin)
    if canonical is None:
        raise not_found("issuer pin")
    body = _change()
    reads = services().reads
    doc = triage.set_issuer(reads.client, reads.keys, canonical, body["state"], body["note"],
                            g.token_name)
    return jsonify({"pin": canonical, "triage": doc})


@bp.get("/triage/audit")
def audit() -> Response:
    args = _query(AuditQuery)
    try:
        offset = decode_cursor(args.get("cursor"), "t", "new")
    except BadCursor:
        raise Rejection(400, "bad-query", "A query parameter is malformed.",
                        errors={"cursor": ["Not a cursor from this list."]}) from None
    reads = services().reads
    items, more = triage.audit_page(reads.client, reads.keys, offset, args["limit"])
    return jsonify({"items": items,
                    "next_cursor": encode_cursor("t", "new", offset + len(items))
                    if more else None})


@bp.get("/alerts")
def alerts() -> Response:
    args = _query(AlertQuery)
    reads = services().reads
    items, cursor = alerts_page(reads.client, reads.keys.alerts.log, args.get("cursor"),
                                args["limit"])
    return jsonify({"items": items, "next_cursor": cursor})
