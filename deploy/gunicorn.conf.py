"""gunicorn settings for running the collector directly with gunicorn.

    REDIS_URL=redis://127.0.0.1:6379/0 gunicorn -c deploy/gunicorn.conf.py 'collector:create_app()'

`pin-collector serve` uses the same settings (collector/server/gunicorn_conf.py).
"""

from collector.server.gunicorn_conf import *  # noqa: F403
