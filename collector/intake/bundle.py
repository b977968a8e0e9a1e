"""A chain uploaded to rehearse a rotation: strict PEM, one to ten certificates, nothing else.

Operators paste files (fullchain.pem, a CA bundle), so the framing is checked by hand: the text
must be PEM ``CERTIFICATE`` blocks separated by whitespace, each exactly one well-formed
certificate (``chains.pem_to_der`` and ``load_der``). Any other block, a private key above
all, any text around the blocks, or a count outside 1..10 is refused. Errors are fixed strings:
nothing of the upload is ever echoed.
"""

from __future__ import annotations

import re

from collector.intake.chains import ChainError, load_der, pem_to_der

MAX_CHAIN_CERTS = 10
MAX_BUNDLE_BYTES = 64 * 1024
"""The largest upload: ten certificates of a few KiB each fit many times over."""

_MARKER = re.compile(r"-----(BEGIN|END) ([A-Z0-9 ]{0,40})-----")
_NOT_CERT = "The chain holds a PEM block that is not a certificate (never upload a private key)."
_COUNT = f"The chain must hold 1 to {MAX_CHAIN_CERTS} certificates."
_OUTSIDE = "The chain holds text outside its PEM blocks."


class BundleError(ValueError):
    """The upload is not one to ten PEM certificates; the message is fixed text."""


def parse_bundle(body: bytes) -> list[bytes]:
    """The DER of each certificate of ``body``, in order (leaf first, as uploaded).

    One linear scan of the BEGIN/END markers: they must pair up as CERTIFICATE blocks with only
    whitespace between and around them."""
    if len(body) > MAX_BUNDLE_BYTES:
        raise BundleError(f"The chain is larger than {MAX_BUNDLE_BYTES} bytes.")
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise BundleError("The chain is not PEM text.") from None
    markers = list(_MARKER.finditer(text))
    if any(m[2] != "CERTIFICATE" for m in markers):
        raise BundleError(_NOT_CERT)
    if len(markers) % 2 or any(m[1] != ("BEGIN" if i % 2 == 0 else "END")
                               for i, m in enumerate(markers)):
        raise BundleError("The chain's PEM blocks are not well-formed.")
    if not markers or len(markers) > 2 * MAX_CHAIN_CERTS:
        raise BundleError(_COUNT)
    ders: list[bytes] = []
    at = 0
    for begin, end in zip(markers[::2], markers[1::2], strict=True):
        if text[at:begin.start()].strip(" \t\r\n"):
            raise BundleError(_OUTSIDE)
        try:
            der = pem_to_der(text[begin.start():end.end()])
            load_der(der)
        except ChainError:
            raise BundleError("A certificate of the chain is not well-formed.") from None
        ders.append(der)
        at = end.end()
    if text[at:].strip(" \t\r\n"):
        raise BundleError(_OUTSIDE)
    return ders
