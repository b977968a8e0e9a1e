"""The OpenAPI 3 document, generated from the marshmallow schemas with apispec.

Built once per process from ``web.schemas`` (responses and query parameters) and
``intake.schemas.ReportSchema`` (the report body), so the document cannot drift from the code
without a test noticing. Served at ``GET /v1/openapi.json`` behind the same bearer token as
every other ``/v1`` read (SPEC section 5 exempts only ``POST /v1/reports``).
"""

from __future__ import annotations

import functools
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from marshmallow import Schema

from collector.intake.schemas import ReportSchema
from collector.web.schemas.chains import Chain, ChainListQuery, ChainPage
from collector.web.schemas.common import Problem, WindowQuery
from collector.web.schemas.hosts import Host, HostListQuery, HostPage
from collector.web.schemas.operations import Health, Ready
from collector.web.schemas.rehearsal import Inventory, Rehearsal
from collector.web.schemas.summary import Summary
from collector.web.schemas.timelines import ChainTimeline, PairTimeline, Timeline, TimelineQuery
from collector.web.schemas.triage import (
    AlertPage,
    AlertQuery,
    AuditPage,
    AuditQuery,
    IssuerTriage,
    PairTriage,
    TriageChange,
)

_PROBLEM = {"application/problem+json": {"schema": "Problem"}}
_ERRORS = {
    "400": "Malformed JSON, or a malformed query parameter.",
    "401": "Missing or wrong bearer token (one fixed body).",
    "404": "Unknown host, chain or (host, chain) pair.",
    "413": "Body over the size cap.",
    "415": "Content-Type not JSON, or a Content-Encoding.",
    "422": "Not a pin-failure report this collector accepts.",
    "422t": "Not a triage change (unknown field, bad state, note over 500 characters); "
            "nothing is stored.",
    "404t": "Malformed hostname, fingerprint or SPKI pin (any valid one is accepted, "
            "reported yet or not).",
    "429": "Rate-limited; see Retry-After.",
    "503": "Neither Redis nor the local spool can take reports; see Retry-After.",
    "503r": "Redis cannot be read right now; see Retry-After.",
    "413c": "The chain is over 64 KiB (chunked bodies included).",
    "415c": "Content-Type not application/x-pem-file, application/pem-certificate-chain, "
            "text/plain or application/octet-stream, or a Content-Encoding.",
    "422c": "Not a chain of 1 to 10 PEM certificates (a private key, another PEM block, text "
            "around the blocks, a malformed certificate); nothing is echoed or stored.",
}


def _problems(*codes: str) -> dict[str, Any]:
    """Problem responses; a code suffixed "r" is the read-side meaning of that status."""
    return {c.rstrip("rtc"): {"description": _ERRORS[c], "content": _PROBLEM} for c in codes}


PathParam = tuple[str, str]


def _read(op_id: str, summary: str, schema: str, query: type[Schema] | None = None,
          path_param: PathParam | list[PathParam] | None = None,
          not_found: bool = False) -> dict[str, Any]:
    params: list[Any] = []
    path_params = [path_param] if isinstance(path_param, tuple) else path_param or []
    for name, description in path_params:
        params.append({"in": "path", "name": name, "required": True,
                       "description": description, "schema": {"type": "string"}})
    if query is not None:
        params.append({"in": "query", "schema": query})
    codes = ("400", "401", "404", "503r") if not_found else ("400", "401", "503r")
    return {"get": {
        "operationId": op_id, "summary": summary, "tags": ["analyst"],
        "security": [{"bearer": []}], "parameters": params,
        "responses": {"200": {"description": "OK",
                              "content": {"application/json": {"schema": schema}}},
                      **_problems(*codes)},
    }}


def _paths() -> dict[str, dict[str, Any]]:
    host = ("hostname", "U-label or A-label form; matched case-insensitively, trailing dot ok.")
    fp = ("fingerprint", "64 lower-case hex digits (SHA-256 of the offending chain).")
    return {
        "/v1/reports": {"post": {
            "operationId": "post_report", "tags": ["ingest"], "security": [],
            "summary": "Submit a pin-failure report (TrustKit, RFC 7469, Expect-CT).",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": "Report"},
                "application/expect-ct-report+json": {"schema": {"type": "object"}}}},
            "responses": {"204": {"description": "Accepted: durable in Redis or the spool."},
                          **_problems("400", "413", "415", "422", "429", "503")},
        }},
        "/v1/summary": _read("summary", "Totals, top hosts and chains.", "Summary",
                             WindowQuery),
        "/v1/hosts": _read("list_hosts", "Hosts by reports or last seen, paged.", "HostPage",
                           HostListQuery),
        "/v1/hosts/{hostname}": _read("host", "One host, with pin advice.", "Host",
                                      WindowQuery, host, True),
        "/v1/hosts/{hostname}/timeline": _read("host_timeline", "Reports per hour or day.",
                                               "Timeline", TimelineQuery, host, True),
        "/v1/hosts/{hostname}/chains/{fingerprint}/timeline": _read(
            "pair_timeline", "Reports of one chain on one host per hour or day.",
            "PairTimeline", TimelineQuery, [host, fp], True),
        "/v1/chains": _read("list_chains", "Offending chains by reports, paged; filtered by "
                            "class and/or host.", "ChainPage", ChainListQuery),
        "/v1/chains/{fingerprint}": _read("chain", "One chain, its hosts (each with the pair's "
                                          "class) and its certificates.", "Chain",
                                          WindowQuery, fp, True),
        "/v1/chains/{fingerprint}/timeline": _read("chain_timeline",
                                                   "Reports of one chain per hour or day.",
                                                   "ChainTimeline", TimelineQuery, fp, True),
        "/v1/triage/pairs/{hostname}/{fingerprint}": _triage(
            "triage_pair", "Mark a (host, chain) pair open, acknowledged or ignored.",
            "PairTriage", [host, fp]),
        "/v1/triage/issuers/{pin}": _triage(
            "triage_issuer", "Mark every chain holding a certificate with this SPKI pin (a CA "
            "key) open, acknowledged or ignored.", "IssuerTriage",
            [("pin", "RFC 7469 SPKI SHA-256 pin, base64 (44 characters); `/` may be sent "
                     "as is or as %2F.")]),
        "/v1/triage/audit": _read("triage_audit", "Triage changes, newest first, paged.",
                                  "AuditPage", AuditQuery),
        "/v1/alerts": _read("alerts", "Alerts fired, newest first, paged.", "AlertPage",
                            AlertQuery),
        # field pin inventory and rotation rehearsal (SPEC section 12)
        "/v1/hosts/{hostname}/inventory": _read(
            "host_inventory", "Pin sets deployed in the field per app build: devices, "
            "first/last seen, expiration, TrustKit and Android forms.", "Inventory",
            WindowQuery, host, True),
        "/v1/hosts/{hostname}/rehearsal": _rehearsal(host),
        "/v1/openapi.json": {"get": {
            "operationId": "openapi", "tags": ["analyst"], "security": [{"bearer": []}],
            "summary": "This document.",
            "responses": {"200": {"description": "OpenAPI 3",
                                  "content": {"application/json": {"schema": {
                                      "type": "object"}}}},
                          **_problems("401")},
        }},
        "/healthz": _ops("healthz", "Liveness.", {"200": ("OK", "Health")}),
        "/readyz": _ops("readyz", "Readiness: Redis reachable, spool writable and not full.",
                        {"200": ("Ready", "Ready"),
                         "503": ("Not ready; reasons listed.", "Ready")}),
        "/metrics": {"get": {
            "operationId": "metrics", "tags": ["operations"], "security": [],
            "summary": "Prometheus text exposition.",
            "responses": {"200": {"description": "Metrics",
                                  "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }},
    }


def _triage(op_id: str, summary: str, schema: str, path_params: list[PathParam]) \
        -> dict[str, Any]:
    params = [{"in": "path", "name": name, "required": True, "description": description,
               "schema": {"type": "string"}} for name, description in path_params]
    return {"put": {
        "operationId": op_id, "summary": summary, "tags": ["analyst"],
        "security": [{"bearer": []}], "parameters": params,
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": "TriageChange"}}},
        "responses": {"200": {"description": "Recorded, with who (the token's name) and when.",
                              "content": {"application/json": {"schema": schema}}},
                      **_problems("400", "401", "404t", "413", "415", "422t", "503r")},
    }}


def _rehearsal(host: PathParam) -> dict[str, Any]:
    """``POST /v1/hosts/{hostname}/rehearsal``: a PEM body, the window as query."""
    pem = {"schema": {"type": "string", "maxLength": 65536, "description":
                      "1 to 10 PEM certificates, leaf first, nothing else."}}
    return {"post": {
        "operationId": "host_rehearsal", "tags": ["analyst"], "security": [{"bearer": []}],
        "summary": "Rehearse a rotation: which builds seen in the window would accept this "
                   "chain, on how many devices, and the pins to add. Stores nothing.",
        "parameters": [{"in": "path", "name": host[0], "required": True,
                        "description": host[1], "schema": {"type": "string"}},
                       {"in": "query", "schema": WindowQuery}],
        "requestBody": {"required": True, "content": {
            "application/x-pem-file": pem, "application/pem-certificate-chain": pem,
            "text/plain": pem, "application/octet-stream": pem}},
        "responses": {"200": {"description": "The verdict per build.",
                              "content": {"application/json": {"schema": "Rehearsal"}}},
                      **_problems("400", "401", "404", "413c", "415c", "422c", "503r")},
    }}


def _ops(op_id: str, summary: str, responses: dict[str, tuple[str, str]]) -> dict[str, Any]:
    return {"get": {
        "operationId": op_id, "tags": ["operations"], "security": [], "summary": summary,
        "responses": {code: {"description": d, "content": {"application/json": {"schema": s}}}
                      for code, (d, s) in responses.items()},
    }}


def _version() -> str:
    try:
        return version("pin-collector")
    except PackageNotFoundError:
        return "0.0.0"


@functools.lru_cache(maxsize=1)
def document() -> dict[str, Any]:
    spec = APISpec(
        title="pin-collector", version=_version(), openapi_version="3.0.3",
        plugins=[MarshmallowPlugin()],
        info={"description": "Collects TLS pin-failure reports and answers analysts. "
                             "Times are RFC 3339 UTC; `since`/`until` default to the "
                             "retention period; lists return `next_cursor` (null at the end)."},
    )
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    spec.components.schema("Report", schema=ReportSchema)
    for schema in (Summary, HostPage, Host, Timeline, ChainPage, Chain, ChainTimeline,
                   PairTimeline, Problem, Health, Ready, TriageChange, PairTriage, IssuerTriage,
                   AuditPage, AlertPage, Inventory, Rehearsal):
        spec.components.schema(schema.__name__, schema=schema)
    for path, operations in _paths().items():
        spec.path(path=path, operations=operations)
    doc: dict[str, Any] = spec.to_dict()
    return doc
