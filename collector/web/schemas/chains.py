"""The chain list (filtered by class and host) and the chain view with its hosts and
certificates.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from collector.aggregates.read.params import CLASSES
from collector.web.schemas.common import (
    Hostname,
    Page,
    PageQuery,
    PinAdvice,
    Strict,
    date_time,
    triage_field,
)


# -- query parameters -------------------------------------------------------------------------
class ChainListQuery(PageQuery):
    classification = fields.String(validate=validate.OneOf(CLASSES), metadata={
        "description": "Only chains of this class: the chain's own (issuer-level) class, or the "
                       "(host, chain) pair's class when `hostname` is given."})
    hostname = Hostname(metadata={
        "description": "Only this host's chains, ranked by their reports on it, with the pair's "
                       "class. U-label or A-label form."})


# -- responses --------------------------------------------------------------------------------
def _class(**kw: Any) -> fields.String:
    return fields.String(required=True, validate=validate.OneOf(CLASSES), **kw)


class ChainItem(Strict):
    fingerprint = fields.String(required=True)
    reports = fields.Integer(required=True, metadata={
        "description": "Reports in the window (on `hostname` when the list is filtered by it)."})
    hosts = fields.Integer(required=True, metadata={
        "description": "Hosts the chain was reported for in the window."})
    classification = _class(metadata={
        "description": "The chain's own class, or the pair's when filtered by `hostname`."})
    label = fields.String(allow_none=True)
    first_seen = date_time()
    last_seen = date_time()
    triage = triage_field()


class ChainPage(Page):
    items = fields.List(fields.Nested(ChainItem), required=True)


class Certificate(Strict):
    subject = fields.String(required=True)
    issuer = fields.String(required=True)
    serial = fields.String(required=True, metadata={"description": "Lower-case hex."})
    not_before = fields.String(required=True, metadata={"format": "date-time"})
    not_after = fields.String(required=True, metadata={"format": "date-time"})
    sha256 = fields.String(required=True, metadata={"description": "Hex SHA-256 of the DER."})
    spki_sha256 = fields.String(required=True, metadata={"description": "RFC 7469 pin."})
    pem = fields.String(required=True)


class ChainHost(Strict):
    hostname = fields.String(required=True)
    reports = fields.Integer(required=True, metadata={"description": "Reports in the window."})
    classification = _class(metadata={
        "description": "The (host, chain) pair's class: `public-trust` only for a host the "
                       "leaf covers."})
    label = fields.String(allow_none=True, required=True)
    triage = triage_field()


class MoreHosts(Strict):
    reports = fields.Integer(required=True, metadata={
        "description": "Reports from hosts past the per-chain host cap (no class of their own)."})


class Chain(Strict):
    fingerprint = fields.String(required=True)
    reports = fields.Integer(required=True)
    first_seen = date_time()
    last_seen = date_time()
    classification = _class(metadata={
        "description": "The chain's own class, by issuer: `public-trust` when it chains to a "
                       "public root, whichever hosts its leaf covers."})
    label = fields.String(allow_none=True, required=True)
    port = fields.Integer(allow_none=True, required=True)
    hosts = fields.List(fields.Nested(ChainHost), required=True, metadata={
        "description": "Hosts of the chain, but those where the pair is ignored."})
    ignored_hosts = fields.List(fields.Nested(ChainHost), required=True, metadata={
        "description": "Hosts where the pair is triaged ignored: listed apart, still counted."})
    more_hosts = fields.Nested(MoreHosts, allow_none=True, required=True)
    certificates = fields.List(fields.Nested(Certificate), required=True)
    pins_that_would_pass = fields.List(fields.Nested(PinAdvice), required=True)
