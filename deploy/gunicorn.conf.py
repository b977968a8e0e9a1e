"""gunicorn settings for running the collector directly with gunicorn.

    REDIS_URL=redis://127.0.0.1:6379/0 gunicorn -c deploy/gunicorn.conf.py 'collector:create_app()'

`pin-collector serve` uses the same settings (collector/gunicorn_conf.py).
"""

from collector.gunicorn_conf import *  # noqa: F403

# `pin-collector serve` turns SO_REUSEPORT on only for a TCP bind it has checked is free;
# here the bind may be a unix socket (which cannot be shared per worker), so it stays off.
# Set it to True for a TCP bind to spread keep-alive connections evenly over workers.
reuse_port = False
