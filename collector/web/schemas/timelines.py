"""Timelines: reports per hour or per day of a host, a chain, a (host, chain) pair."""

from __future__ import annotations

from marshmallow import fields, validate

from collector.web.schemas.common import Strict, WindowQuery, date_time


# -- query parameters -------------------------------------------------------------------------
class TimelineQuery(WindowQuery):
    interval = fields.String(
        load_default="day", validate=validate.OneOf(["hour", "day"]),
        metadata={"default": "day",
                  "description": "`hour` defaults to the last 7 days unless `since` is given."})


# -- responses --------------------------------------------------------------------------------
class Point(Strict):
    start = fields.String(required=True, metadata={"format": "date-time"})
    reports = fields.Integer(required=True)


class _Series(Strict):
    interval = fields.String(required=True, validate=validate.OneOf(["hour", "day"]))
    since = date_time()
    until = date_time()
    points = fields.List(fields.Nested(Point), required=True)


class Timeline(_Series):
    hostname = fields.String(required=True)


class ChainTimeline(_Series):
    fingerprint = fields.String(required=True)


class PairTimeline(_Series):
    hostname = fields.String(required=True)
    fingerprint = fields.String(required=True)
