"""The summary view: totals, top hosts and chains, hosts losing service now."""

from __future__ import annotations

from marshmallow import fields

from collector.web.schemas.common import (
    Strict,
    TopChain,
    test_reports_all_time_field,
    test_reports_field,
)


class HostCount(Strict):
    hostname = fields.String(required=True)
    reports = fields.Integer(required=True)


class HostLosing(Strict):
    hostname = fields.String(required=True)
    reports = fields.Integer(required=True, metadata={
        "description": "Reports from enforcing clients on public-trust (host, chain) pairs."})
    devices = fields.Integer(required=True, metadata={
        "description": "Distinct enforcing devices failing on them (losing service)."})


class Summary(Strict):
    hosts_losing_service_now = fields.List(fields.Nested(HostLosing), required=True, metadata={
        "description": "Hosts whose enforcing clients fail on a public-trust chain now, by "
                       "reports (at most 100 listed)."})
    devices_failing_now = fields.Integer(required=True, metadata={
        "description": "Hosts' devices losing service now, summed over hosts."})
    devices_at_risk = fields.Integer(required=True, metadata={
        "description": "Hosts' report-only devices failing on public-trust chains, summed."})
    reports = fields.Integer(required=True)
    hosts = fields.Integer(required=True)
    chains = fields.Integer(required=True)
    devices = fields.Integer(required=True)
    top_hosts = fields.List(fields.Nested(HostCount), required=True)
    top_chains = fields.List(fields.Nested(TopChain), required=True)
    by_classification = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    test_reports = test_reports_field()
    test_reports_all_time = test_reports_all_time_field()
