"""pin-collector: TLS pin-failure reports in, answers for security analysts out."""

from __future__ import annotations

from flask import Flask

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
    app.register_blueprint(api.bp)
    app.register_blueprint(health.bp)
    return app
