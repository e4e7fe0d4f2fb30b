"""Security for one machine's system, made on first start (``anneal serve``, the demo).

Like Elasticsearch 8 on its first start: a local CA, a certificate per service, one token per
role and the key of the web app's signed image links under ``<state>/security`` (secrets mode
0600), reused on later starts. The anneal client commands find the CA and their role's token
there.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from services.common.catalog import SERVICES
from services.common.image_links import create_key
from services.security.channels import ChannelSecurity
from services.security.local_ca import LocalCA
from services.security.principal import Role
from services.security.tls import TlsMaterial
from services.security.tokens import TokenError, create_token, read_tokens, split_token

CLIENT_ROLES = (Role.READER, Role.ANNOTATOR, Role.OPERATOR)
LOCAL_TOKEN_TTL_S = 365 * 24 * 3600.0


@dataclass(frozen=True)
class LocalSecurity:
    """The security folder of a state folder and the files in it."""

    folder: Path

    @classmethod
    def of(cls, state_dir: Path) -> LocalSecurity:
        return cls(Path(state_dir) / "security")

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def tokens_file(self) -> Path:
        return self.folder / "tokens.json"

    @property
    def image_link_key(self) -> Path:
        """The key that signs the web app's image links (services/common/image_links.py)."""
        return self.folder / "image-links.key"

    @property
    def mode_file(self) -> Path:
        """``client.json``: whether the system last started with TLS, for the client commands."""
        return self.folder / "client.json"

    def certificate(self, service: str) -> tuple[Path, Path]:
        """(certificate, key) of ``service``."""
        folder = self.folder / "services"
        return folder / f"{service}.pem", folder / f"{service}-key.pem"

    def role_token(self, role: Role) -> Path:
        """The file holding the local token of ``role``."""
        return self.folder / "tokens" / f"{role.value}.token"

    def service_tls(self, service: str) -> TlsMaterial:
        """The TLS identity of ``service``: its certificate, its key and the CA."""
        certificate, key = self.certificate(service)
        return TlsMaterial.load(certificate, key, self.ca)

    def client(self, role: Role) -> ChannelSecurity:
        """Credentials of a local client acting with ``role``: the CA and that role's token."""
        return ChannelSecurity(
            ca=self.ca.read_bytes(), token=self.role_token(role).read_text().strip()
        )

    def insecure(self) -> bool:
        """Whether the system here last started with ``--insecure``."""
        if not self.mode_file.is_file():
            return False
        return bool(json.loads(self.mode_file.read_text()).get("insecure", False))

    def record_mode(self, insecure: bool) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.mode_file.write_text(json.dumps({"insecure": insecure}) + "\n")

    def ensure(self, hosts: Sequence[str]) -> list[str]:
        """Create what is missing (CA, tokens, the image link key) and fresh service
        certificates; what was made."""
        made: list[str] = []
        ca = LocalCA(self.folder)
        if not ca.exists():
            ca.create()
            made.append(f"a local CA ({self.ca})")
        for name, spec in SERVICES.items():
            names = [*hosts, "localhost", "127.0.0.1", name]
            certificate, _key = self.certificate(name)
            ca.issue(name, spec.spiffe_id, names, certificate.parent)
        for role in CLIENT_ROLES:
            if not self._token_active(role):
                token, _record = create_token(
                    self.tokens_file, f"local-{role.value}", role, LOCAL_TOKEN_TTL_S
                )
                path = self.role_token(role)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.touch(mode=0o600)
                path.chmod(0o600)
                path.write_text(token + "\n")
                made.append(f"the {role.value} token ({path})")
        if not self.image_link_key.exists():
            create_key(self.image_link_key)
            made.append(f"the key of signed image links ({self.image_link_key})")
        return made

    def _token_active(self, role: Role) -> bool:
        path = self.role_token(role)
        if not path.is_file() or not self.tokens_file.is_file():
            return False
        try:
            token_id, secret = split_token(path.read_text())
        except TokenError:
            return False
        now = time.time()
        return any(
            r.id == token_id and r.matches(secret) and r.state(now) == "active"
            for r in read_tokens(self.tokens_file)
        )
