"""The analysts' web dashboard (SPEC section 10): server-rendered pages on the same read
views as the JSON API, behind a token sign-in with server-side sessions.

Modules: ``blueprint`` (routes' home, which paths are the dashboard's), ``signin`` (the gate,
sign-in and sign-out), ``sessions`` (signed cookie + Redis record), ``pages`` (overview,
hosts, host, chain, alerts), ``triage`` (the host page's buttons), ``field_pins`` and
``rehearse`` (the host page's field pin inventory and rotation rehearsal), ``params`` (query
parameters), ``security`` (headers, TLS, ``next``), ``errors`` (HTML error pages),
``charts``/``display``/``timefmt``/``render`` (what templates show), ``setup`` (``install``).
"""

from __future__ import annotations

from collector.web.dashboard.setup import install

__all__ = ["install"]
