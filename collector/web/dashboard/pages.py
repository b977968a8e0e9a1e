"""The pages: overview, hosts, host (with the field pin inventory), chain, alerts. Each reads
through the same view functions as the JSON API (``aggregates.read``, ``alerts.listing``),
then renders.
"""

from __future__ import annotations

from typing import Any

from flask import Response, g, request

from collector.aggregates.read.chain_classes import chain_classes
from collector.aggregates.read.chain_view import chain_doc
from collector.aggregates.read.context import ReadContext
from collector.aggregates.read.host_classes import hosts_of_class
from collector.aggregates.read.hosts import host_doc, hosts_page
from collector.aggregates.read.inventory import inventory_doc
from collector.aggregates.read.params import FINGERPRINT, encode_cursor, next_cursor
from collector.aggregates.read.summary import summary_doc
from collector.aggregates.read.timeline import (
    chain_timeline_doc,
    global_timeline_doc,
    pair_timeline_doc,
    timeline_doc,
)
from collector.aggregates.read.triage import triage_of
from collector.alerts.listing import alerts_page
from collector.intake.hostnames import HostnameError, normalise
from collector.web.context import services
from collector.web.dashboard import charts, field_pins, params
from collector.web.dashboard.blueprint import bp
from collector.web.dashboard.errors import NotFoundPage
from collector.web.dashboard.render import page

RECENT_ALERTS = 8
ALERTS_PAGE = 50
CHAIN_HOSTS = 50
"""Hosts the chain page lists (the most-reported); a chain seen on thousands of hosts would
otherwise cost a class and a triage read per host."""


def page_window() -> params.WindowChoice:
    chosen = params.window_choice(request.args)
    g.dashboard_window = chosen
    return chosen


def hostname_arg(raw: str) -> str:
    try:
        return normalise(raw)
    except HostnameError:
        raise NotFoundPage("host") from None


def fingerprint_arg(raw: str) -> str:
    if not FINGERPRINT.fullmatch(raw):
        raise NotFoundPage("chain")
    return raw


def with_triage(reads: ReadContext, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each alert with the current triage state of its (host, chain) pair (None for a
    ``spike``, which names no chain)."""
    fps = list(dict.fromkeys(a["fingerprint"] for a in alerts
                             if isinstance(a.get("fingerprint"), str)
                             and FINGERPRINT.fullmatch(a["fingerprint"])))
    certs = {fp: found[2] for fp, found in chain_classes(reads, fps).items()}
    entries = list(dict.fromkeys((a["hostname"], a["fingerprint"]) for a in alerts
                                 if a.get("fingerprint") in certs
                                 and isinstance(a.get("hostname"), str)))
    states = triage_of(reads, [(h, fp, certs[fp]) for h, fp in entries])
    return [{**a, "triage": states.get((a["hostname"], a["fingerprint"]))
             if a.get("fingerprint") in certs else None} for a in alerts]


@bp.get("/")
def overview() -> Response:
    chosen = page_window()
    reads = services().reads
    summary = summary_doc(reads, chosen.window)
    timeline = global_timeline_doc(reads, chosen.interval, chosen.window)
    alerts, _ = alerts_page(reads.client, reads.keys.alerts.log, None, RECENT_ALERTS)
    return page("overview.html", summary=summary,
                chart=charts.timeline("timeline-all", timeline, "on all hosts"),
                alerts=with_triage(reads, alerts))


@bp.get("/hosts")
def hosts() -> Response:
    chosen = page_window()
    args = params.host_list_args(request.args)
    reads = services().reads
    cursor: str | None
    if args.classification is None:
        items, more = hosts_page(reads, chosen.window, args.sort, args.offset,
                                 params.PAGE_SIZE)
        cursor = next_cursor(args.cursor_kind, args.cursor_sort, args.offset, len(items), more)
    else:
        items, after = hosts_of_class(reads, chosen.window, args.sort, args.classification,
                                      args.offset, params.PAGE_SIZE)
        cursor = encode_cursor(args.cursor_kind, args.cursor_sort, after) \
            if after is not None else None
    return page("hosts.html", items=items, args=args, next_cursor=cursor,
                first_page=args.offset == 0)


@bp.get("/hosts/<hostname>")
def host(hostname: str) -> Response:
    name = hostname_arg(hostname)
    chosen = page_window()
    reads = services().reads
    doc = host_doc(reads, name, chosen.window)
    if doc is None:
        raise NotFoundPage("host")
    timeline = timeline_doc(reads, name, chosen.interval, chosen.window)
    field = field_pins.panel(inventory_doc(reads, name, chosen.window),
                             services().settings.alert_pin_expiry_days)
    return page("host.html", doc=doc, field=field,
                chart=charts.timeline("timeline-host", timeline, f"for {name}"))


@bp.get("/chains/<fingerprint>")
def chain(fingerprint: str) -> Response:
    fp = fingerprint_arg(fingerprint)
    chosen = page_window()
    on_host = request.args.get("host") or None
    name = None
    if on_host is not None:
        try:
            name = normalise(on_host)
        except HostnameError:
            raise params.BadQuery("host", "Not a hostname.") from None
    reads = services().reads
    doc = chain_doc(reads, fp, chosen.window, max_hosts=CHAIN_HOSTS)
    if doc is None:
        raise NotFoundPage("chain")
    if name is not None:
        timeline = pair_timeline_doc(reads, name, fp, chosen.interval, chosen.window)
        if timeline is None:
            raise NotFoundPage("chain on this host")
        chart = charts.timeline("timeline-chain", timeline, f"of this chain on {name}")
    else:
        timeline = chain_timeline_doc(reads, fp, chosen.interval, chosen.window)
        chart = charts.timeline("timeline-chain", timeline, "of this chain on all its hosts")
    return page("chain.html", doc=doc, chart=chart, on_host=name)


@bp.get("/alerts")
def alerts() -> Response:
    page_window()  # alerts are not windowed, but links from here keep the window
    cursor = params.alert_cursor(request.args)
    reads = services().reads
    items, after = alerts_page(reads.client, reads.keys.alerts.log, cursor, ALERTS_PAGE)
    return page("alerts.html", alerts=with_triage(reads, items), next_cursor=after,
                first_page=cursor is None)
