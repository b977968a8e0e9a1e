"""Field pin inventory and rotation rehearsal routes (SPEC section 12), behind the token.

``GET /v1/hosts/<hostname>/inventory`` lists the pin sets deployed in the field; ``POST
/v1/hosts/<hostname>/rehearsal`` takes a candidate chain as PEM (``application/x-pem-file``,
``application/pem-certificate-chain``, ``text/plain`` or ``application/octet-stream``; at most
64 KiB, chunked included) and says which builds would accept it. Refusals, cheapest first:
415 (another media type such as JSON or a form, any
Content-Encoding), 413 (size), 422 (not one to ten PEM certificates: a private key, any other
block, text around the blocks), then 404 for a host never seen. Nothing is stored, and no
refusal echoes a byte of the upload.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from collector.aggregates.read.inventory import inventory_doc
from collector.aggregates.read.rehearsal import rehearsal_doc
from collector.intake import wire
from collector.intake.bundle import MAX_BUNDLE_BYTES, BundleError, parse_bundle
from collector.intake.rejection import Rejection
from collector.web.api import doc_or_404, hostname_arg, require_analyst, window
from collector.web.context import services
from collector.web.report_route import BODY_TIMEOUT_S

bp = Blueprint("rehearsal", __name__, url_prefix="/v1")
bp.before_request(require_analyst)

PEM_TYPES = frozenset({"application/x-pem-file", "application/pem-certificate-chain",
                       "text/plain", "application/octet-stream", "application/x-x509-ca-cert"})
"""What a PEM file is sent as (the body is checked strictly whatever the label)."""
_TOO_LARGE = Rejection(413, "body-too-large",
                       f"The chain is larger than {MAX_BUNDLE_BYTES} bytes.")


def _chain() -> list[bytes]:
    """The uploaded chain's DER, leaf first, or the refusal."""
    media = (request.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
    if media not in PEM_TYPES:
        raise Rejection(415, "unsupported-media-type",
                        "Send the chain as application/x-pem-file or text/plain.")
    encoding = request.headers.get("Content-Encoding")
    if encoding and encoding.strip().lower() != "identity":
        raise Rejection(415, "unsupported-content-encoding", "Compressed bodies are not accepted.")
    if (request.content_length or 0) > MAX_BUNDLE_BYTES:
        raise _TOO_LARGE
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:  # a client that stalls mid-body must not hold a thread for ever
        sock.settimeout(BODY_TIMEOUT_S)
    try:
        body = wire.read_capped(request.stream, MAX_BUNDLE_BYTES)
    except Rejection as exc:
        raise _TOO_LARGE if exc.status == 413 else exc from None
    try:
        return parse_bundle(body)
    except BundleError as exc:
        raise Rejection(422, "invalid-chain", "Not a chain of 1 to 10 PEM certificates.",
                        errors={"body": [str(exc)]}) from None


@bp.get("/hosts/<hostname>/inventory")
def inventory(hostname: str) -> Response:
    return doc_or_404(inventory_doc(services().reads, hostname_arg(hostname), window()), "host")


@bp.post("/hosts/<hostname>/rehearsal")
def rehearsal(hostname: str) -> Response:
    name, bounds = hostname_arg(hostname), window()
    ders = _chain()
    return doc_or_404(rehearsal_doc(services().reads, name, bounds, ders), "host")
