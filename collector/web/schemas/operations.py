"""Liveness and readiness documents (``/healthz``, ``/readyz``)."""

from __future__ import annotations

from marshmallow import fields, validate

from collector.web.schemas.common import Strict


class Health(Strict):
    status = fields.String(required=True)


class Ready(Strict):
    status = fields.String(required=True, validate=validate.OneOf(["ready", "degraded"]))
    reasons = fields.List(fields.String(), required=True)
    spool = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))
