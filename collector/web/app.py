"""The app factory: the one place the Flask app is assembled from settings."""

from __future__ import annotations

import functools

from flask import Flask, Response
from redis import RedisError

from collector import wiring
from collector.config import Settings
from collector.intake.rejection import Rejection
from collector.web import api, dashboard, health, metrics, problems, report_route, triage
from collector.web import rehearsal as rehearsal_routes  # field pin inventory
from collector.web.auth import TokenCheck
from collector.web.context import WEB, WebServices
from collector.web.proxies import TrustedProxies
from collector.web.ratelimit import Limits


def _sync_metrics(svc: wiring.Services) -> None:
    """The writer's tick: this worker's ingest and alert totals become counter increments."""
    metrics.sync_ingestor(svc.ingestor)
    metrics.sync_alerts(svc.deliverer.stats if svc.deliverer is not None else None,
                        svc.alerter.stats if svc.alerter is not None else None)


def _limits(settings: Settings, svc: wiring.Services) -> Limits | None:
    """The report route's limits, shared through Redis; None when every one is off."""
    limits = Limits(per_minute=settings.rate_limit_per_minute,
                    global_per_minute=settings.rate_limit_global_per_minute,
                    chains_per_hour=settings.rate_limit_chains_per_hour,
                    store=svc.limits, on_fallback=metrics.rate_limit_fallback)
    return limits if limits.active else None


def create_app(settings: Settings | None = None) -> Flask:
    """Build the collector; production reads the environment, tests pass ``settings``."""
    settings = settings or Settings.from_env()
    app = Flask("collector")
    app.config["MAX_CONTENT_LENGTH"] = None  # intake enforces the cap itself, chunked included
    svc = wiring.build(settings)
    svc.ingestor.tick = functools.partial(_sync_metrics, svc)
    app.extensions[wiring.EXTENSION] = svc
    app.extensions[WEB] = WebServices(
        tokens=TokenCheck(svc.api_tokens),
        limiter=_limits(settings, svc),
    )
    svc.ingestor.start()
    if svc.deliverer is not None:
        svc.deliverer.start()
    problems.register(app)

    @app.errorhandler(RedisError)
    def _redis_down(exc: RedisError) -> Response:
        """Analyst reads need Redis; ingestion never gets here (it spools)."""
        return problems.response(Rejection(
            503, "storage-unavailable", "The aggregates cannot be read right now.",
            headers={"Retry-After": "5"}))

    app.register_blueprint(api.bp)
    app.register_blueprint(triage.bp)
    app.register_blueprint(rehearsal_routes.bp)
    app.register_blueprint(health.bp)
    dashboard.install(app, svc)  # the pages under / (SPEC section 10)
    app.wsgi_app = report_route.ReportRoute(  # type: ignore[method-assign]
        app.wsgi_app, svc, app.extensions[WEB].limiter)
    if settings.trusted_proxies:  # REMOTE_ADDR from X-Forwarded-For, for trusted peers only
        app.wsgi_app = TrustedProxies(app.wsgi_app,  # type: ignore[method-assign]
                                      settings.trusted_proxies)
    return app
