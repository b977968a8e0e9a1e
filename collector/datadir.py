"""Files the collector keeps in COLLECTOR_DATA_DIR: generated secrets and the spool.

Secrets are created once, with mode 0600, by whichever process gets there first
(O_EXCL makes the race between gunicorn workers harmless).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from collector.config import GENERATED_TOKEN_NAME, named_tokens


def ensure(data_dir: str) -> Path:
    path = Path(data_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _read_or_create(path: Path, make: str) -> tuple[str, bool]:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text("ascii").strip(), False
    with os.fdopen(fd, "w") as f:
        f.write(make + "\n")
        f.flush()
        os.fsync(f.fileno())
    return make, True


def device_secret(data_dir: str, configured: str | None) -> bytes:
    """The key of the device hash: configured, else generated on first start."""
    if configured:
        return configured.encode("utf-8")
    value, _ = _read_or_create(ensure(data_dir) / "device-secret", secrets.token_hex(32))
    return bytes.fromhex(value)


NamedTokens = tuple[tuple[str, str], ...]


def api_tokens(data_dir: str, configured: tuple[str, ...]) -> tuple[NamedTokens, str | None]:
    """Analyst tokens as (name, token); returns the generated token too when it was created
    just now. Configured entries are named as ``config.named_tokens`` says; the generated
    token is named ``generated``."""
    if configured:
        return named_tokens(configured), None
    token, created = _read_or_create(ensure(data_dir) / "api-token", secrets.token_urlsafe(32))
    return ((GENERATED_TOKEN_NAME, token),), token if created else None
