"""Bearer tokens, stored hashed in one JSON file: create, list, revoke; verify one presented.

A token reads ``anl.<id>.<secret>``. The file keeps, per token, its id, name, role, a random
salt and SHA-256(salt + secret), its creation and expiry times and, once revoked, when. The
plaintext exists only in the answer of :func:`create_token` (shown once, like a password).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from anneal.state_files import read_json, write_json_atomic
from services.common.errors import UnauthenticatedError
from services.common.shown import shown
from services.security.principal import Role

PREFIX = "anl"
FORMAT_VERSION = 1
DEFAULT_TTL_S = 90 * 24 * 3600.0
_ID_BYTES = 8
MAX_NAME_LENGTH = 100
DELEGATION_SEPARATOR = ":"
"""Reserved in token names: it joins a labelling service's name to the person it answers for
(``labelstudio:alice@example.org``, services/security/delegation.py), so no token's name can
be such a delegated identity."""


class TokenError(UnauthenticatedError):
    """A presented token is malformed, unknown, revoked or expired; the message says which."""


@dataclass(frozen=True)
class TokenRecord:
    """One issued token as the file stores it (no plaintext)."""

    id: str
    name: str
    role: Role
    salt: str
    sha256: str
    created_at: float
    expires_at: float
    revoked_at: float | None = None

    def matches(self, secret: str) -> bool:
        """Whether ``secret`` is this token's, compared in constant time."""
        return hmac.compare_digest(_digest(self.salt, secret), self.sha256)

    def state(self, now: float) -> str:
        """``active``, ``revoked`` or ``expired``."""
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if now >= self.expires_at else "active"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "role": self.role.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TokenRecord:
        return cls(
            id=str(data["id"]),
            name=str(data["name"]),
            role=Role.parse(str(data["role"])),
            salt=str(data["salt"]),
            sha256=str(data["sha256"]),
            created_at=float(data["created_at"]),
            expires_at=float(data["expires_at"]),
            revoked_at=None if data.get("revoked_at") is None else float(data["revoked_at"]),
        )


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def split_token(token: str) -> tuple[str, str]:
    """``(id, secret)`` of ``anl.<id>.<secret>``; TokenError for anything else."""
    prefix, _, rest = token.strip().partition(".")
    token_id, _, secret = rest.partition(".")
    if prefix != PREFIX or len(token_id) != 2 * _ID_BYTES or not secret:
        raise TokenError("the token is not an ANNEAL token (anl.<id>.<secret>)")
    return token_id, secret


def read_tokens(path: Path) -> list[TokenRecord]:
    """The records of the token file at ``path``; RuntimeError naming the file if it is bad."""
    data = read_json(path)
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise RuntimeError(f"token file {path} is not a version {FORMAT_VERSION} token file")
    try:
        return [TokenRecord.from_json(entry) for entry in data["tokens"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise RuntimeError(f"token file {path} has a bad entry ({exc})") from exc


def write_tokens(path: Path, records: Sequence[TokenRecord]) -> None:
    """Replace the token file atomically, readable by its owner only (mode 0600)."""
    data = {"version": FORMAT_VERSION, "tokens": [r.to_json() for r in records]}
    old_umask = os.umask(0o077)
    try:
        write_json_atomic(path, data)
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)


def check_name(name: str) -> None:
    """ValueError unless ``name`` can name a new token: 1 to 100 characters, no spaces, no ':'."""
    if not name.strip() or len(name) > MAX_NAME_LENGTH or any(c.isspace() for c in name):
        raise ValueError(
            f"token name {shown(name)} must be 1 to {MAX_NAME_LENGTH} characters without spaces"
        )
    if DELEGATION_SEPARATOR in name:
        raise ValueError(
            f"token name {shown(name)} contains {DELEGATION_SEPARATOR!r}, which is reserved for "
            "the people a labelling service answers for (labelstudio:alice); choose a name "
            f"without {DELEGATION_SEPARATOR!r}"
        )


def create_token(
    path: Path, name: str, role: Role, ttl_s: float = DEFAULT_TTL_S, now: float | None = None
) -> tuple[str, TokenRecord]:
    """Add a token for ``name`` with ``role`` to the file (made if missing); (plaintext, record)."""
    check_name(name)
    if ttl_s <= 0:
        raise ValueError(f"a token must expire in the future, got {ttl_s} seconds")
    created = time.time() if now is None else now
    records = read_tokens(path) if path.exists() else []
    token_id = secrets.token_hex(_ID_BYTES)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    record = TokenRecord(
        id=token_id,
        name=name,
        role=role,
        salt=salt,
        sha256=_digest(salt, secret),
        created_at=created,
        expires_at=created + ttl_s,
    )
    write_tokens(path, [*records, record])
    return f"{PREFIX}.{token_id}.{secret}", record


def revoke_tokens(
    path: Path, name: str | None = None, token_id: str | None = None, now: float | None = None
) -> list[TokenRecord]:
    """Revoke the active tokens of ``name`` or the token ``token_id``; the records revoked."""
    if (name is None) == (token_id is None):
        raise ValueError("name a token to revoke by its name or by its id, not both")
    if not path.exists():
        raise FileNotFoundError(f"no token file at {path}")
    when = time.time() if now is None else now
    records = read_tokens(path)
    revoked: list[TokenRecord] = []
    updated = []
    for record in records:
        hit = record.name == name if name is not None else record.id == token_id
        if hit and record.revoked_at is None:
            record = replace(record, revoked_at=when)
            revoked.append(record)
        updated.append(record)
    if not revoked:
        what = f"name {shown(name)}" if name is not None else f"id {shown(token_id)}"
        raise LookupError(f"no active token with {what} in {path}; `anneal token list` shows them")
    write_tokens(path, updated)
    return revoked
