"""Bearer-token check for the analyst API: digests compared in constant time.

Each token has a name (``name:token`` in COLLECTOR_API_TOKENS, ``token-N`` for a bare one,
``generated`` for the one the collector made); ``require`` returns the name of the token
presented, which the request keeps in ``flask.g`` (triage records it as who). A name is
never logged together with a token, nor a token at all.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from collector.web.problems import unauthorized


class TokenCheck:
    """Holds only SHA-256 digests, so a token's length and prefix leak nothing."""

    def __init__(self, tokens: Iterable[tuple[str, str]]) -> None:
        self._digests = [(name, hashlib.sha256(t.encode("utf-8")).digest())
                         for name, t in tokens]

    def require(self, header: str | None) -> str:
        """The matched token's name; every digest is compared, whichever matches."""
        scheme, _, token = (header or "").partition(" ")
        digest = hashlib.sha256(token.strip().encode("utf-8", "replace")).digest()
        found: str | None = None
        for name, known in self._digests:
            if hmac.compare_digest(digest, known) and found is None:
                found = name
        if found is None or scheme.lower() != "bearer":
            raise unauthorized()
        return found
