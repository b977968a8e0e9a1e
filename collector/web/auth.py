"""Bearer-token check for the analyst API: digests compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

from collector.web.problems import unauthorized


class TokenCheck:
    """Holds only SHA-256 digests, so a token's length and prefix leak nothing."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._digests = [hashlib.sha256(t.encode("utf-8")).digest() for t in tokens]

    def require(self, header: str | None) -> None:
        scheme, _, token = (header or "").partition(" ")
        digest = hashlib.sha256(token.strip().encode("utf-8", "replace")).digest()
        ok = False
        for known in self._digests:
            ok |= hmac.compare_digest(digest, known)
        if not ok or scheme.lower() != "bearer":
            raise unauthorized()
