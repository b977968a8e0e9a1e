"""HTTP API: report ingestion (public) and the analyst reads (bearer token).

Every read validates its query with a ``web.schemas`` schema (400 problem naming the
parameter), answers from the ``aggregates.read`` views and returns 404 problem+json for an
unknown host or chain. The OpenAPI document is generated from the same schemas.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from marshmallow import Schema, ValidationError

from collector.aggregates.read.chain_list import chains_page
from collector.aggregates.read.chain_view import chain_doc
from collector.aggregates.read.hosts import host_doc, hosts_page
from collector.aggregates.read.params import (
    CHAINS_OF_HOST,
    FINGERPRINT,
    BadCursor,
    clamp_limit,
    decode_cursor,
    encode_cursor,
    next_cursor,
)
from collector.aggregates.read.summary import summary_doc
from collector.aggregates.read.timeline import (
    chain_timeline_doc,
    pair_timeline_doc,
    timeline_doc,
)
from collector.aggregates.read.windows import Window
from collector.intake.hostnames import HostnameError, normalise
from collector.intake.rejection import Rejection
from collector.web import metrics, openapi, report_route
from collector.web.context import services, web
from collector.web.problems import not_found
from collector.web.schemas.chains import ChainListQuery
from collector.web.schemas.common import WindowQuery
from collector.web.schemas.hosts import HostListQuery
from collector.web.schemas.timelines import TimelineQuery

bp = Blueprint("api", __name__, url_prefix="/v1")


@bp.route("/reports", methods=["POST"], provide_automatic_options=False)
def post_report() -> Response:
    """Reached only without the ``report_route.ReportRoute`` middleware in front (which
    ``create_app`` installs); kept so the route exists for URL building and 405s."""
    metrics.accepted(report_route.take(services(), web().limiter, request.environ))
    return Response(status=204)


def require_analyst() -> None:
    """The bearer check of every analyst route; the token's name is kept in ``g``."""
    g.token_name = web().tokens.require(request.headers.get("Authorization"))
    services().ingestor.settle()  # a read after a 204 sees it, whichever worker took it


@bp.before_request
def _analyst_auth() -> None:
    if request.endpoint != "api.post_report":
        require_analyst()


def _bad_query(errors: Mapping[str, Any]) -> Rejection:
    fixed = {str(k): [str(m) for m in (v if isinstance(v, list) else [v])][:3]
             for k, v in list(errors.items())[:8]}
    return Rejection(400, "bad-query", "A query parameter is malformed.", errors=fixed)


def _args(schema: type[Schema]) -> dict[str, Any]:
    """Validated query parameters; the first value of a repeated parameter wins."""
    try:
        args: dict[str, Any] = schema().load(request.args.to_dict())
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"query": exc.messages}
        raise _bad_query(messages) from None
    try:
        since = args["since"].astimezone(UTC) if args.get("since") else None
        until = args["until"].astimezone(UTC) if args.get("until") else None
    except (OverflowError, ValueError):  # year 1 with a positive offset, and friends
        raise _bad_query({"since": ["Out of range."]}) from None
    if since and until and since > until:
        raise _bad_query({"since": ["Must not be after 'until'."]})
    args["window"] = Window(since, until)
    if "limit" in args:
        args["limit"] = clamp_limit(int(args["limit"]))
    return args


def window() -> Window:
    found: Window = _args(WindowQuery)["window"]
    return found


def hostname_arg(raw: str) -> str:
    try:
        return normalise(raw)
    except HostnameError:
        raise not_found("host") from None


def _page(args: dict[str, Any], kind: str, sort: str) -> int:
    try:
        return decode_cursor(args.get("cursor"), kind, sort)
    except BadCursor:
        raise _bad_query({"cursor": ["Not a cursor from this list."]}) from None


def doc_or_404(doc: dict[str, Any] | None, what: str) -> Response:
    """The view's JSON, or the 404 problem naming what was not found."""
    if doc is None:
        raise not_found(what)
    return jsonify(doc)


@bp.get("/summary")
def summary() -> Response:
    return jsonify(summary_doc(services().reads, window()))


@bp.get("/hosts")
def list_hosts() -> Response:
    args = _args(HostListQuery)
    offset = _page(args, "h", args["sort"])
    items, more = hosts_page(services().reads, args["window"], args["sort"], offset,
                             args["limit"])
    cursor = next_cursor("h", args["sort"], offset, len(items), more)
    return jsonify({"items": items, "next_cursor": cursor})


@bp.get("/hosts/<hostname>")
def host(hostname: str) -> Response:
    doc = host_doc(services().reads, hostname_arg(hostname), window())
    return doc_or_404(doc, "host")


@bp.get("/hosts/<hostname>/timeline")
def host_timeline(hostname: str) -> Response:
    name = hostname_arg(hostname)
    args = _args(TimelineQuery)
    doc = timeline_doc(services().reads, name, args["interval"], args["window"])
    return doc_or_404(doc, "host")


@bp.get("/hosts/<hostname>/chains/<fingerprint>/timeline")
def pair_timeline(hostname: str, fingerprint: str) -> Response:
    name = hostname_arg(hostname)
    fp = fingerprint_arg(fingerprint)
    args = _args(TimelineQuery)
    doc = pair_timeline_doc(services().reads, name, fp, args["interval"], args["window"])
    return doc_or_404(doc, "chain on this host")


def fingerprint_arg(raw: str) -> str:
    if not FINGERPRINT.fullmatch(raw):
        raise not_found("chain")
    return raw


@bp.get("/chains")
def list_chains() -> Response:
    args = _args(ChainListQuery)
    hostname = args.get("hostname")
    sort = CHAINS_OF_HOST if hostname else "reports"
    offset = _page(args, "c", sort)
    items, after = chains_page(services().reads, args["window"], offset, args["limit"],
                               classification=args.get("classification"), hostname=hostname)
    cursor = encode_cursor("c", sort, after) if after is not None else None
    return jsonify({"items": items, "next_cursor": cursor})


@bp.get("/chains/<fingerprint>")
def chain(fingerprint: str) -> Response:
    doc = chain_doc(services().reads, fingerprint_arg(fingerprint), window())
    return doc_or_404(doc, "chain")


@bp.get("/chains/<fingerprint>/timeline")
def chain_timeline(fingerprint: str) -> Response:
    fp = fingerprint_arg(fingerprint)
    args = _args(TimelineQuery)
    doc = chain_timeline_doc(services().reads, fp, args["interval"], args["window"])
    return doc_or_404(doc, "chain")


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return jsonify(openapi.document())
