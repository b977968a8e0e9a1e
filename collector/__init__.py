"""pin-collector: TLS pin-failure reports in, answers for security analysts out."""

from __future__ import annotations

from flask import Flask, Response
from redis import RedisError

from collector.config import Settings


def create_app(settings: Settings | None = None) -> Flask:
    """Build the collector; production reads the environment, tests pass ``settings``."""
    from collector import api, health, problems, services

    settings = settings or Settings.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = None  # intake enforces the cap itself, chunked included
    svc = services.build(settings)
    app.extensions["collector"] = svc
    svc.ingestor.start()
    problems.register(app)

    @app.errorhandler(RedisError)
    def _redis_down(exc: RedisError) -> Response:
        """Analyst reads need Redis; ingestion never gets here (it spools)."""
        return problems.Problem(503, "storage-unavailable", "The aggregates cannot be read "
                                "right now.", headers={"Retry-After": "5"}).response()

    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    return app
