"""The system the web tests run against: its config (addresses, local tokens) and web URL."""

from __future__ import annotations

from services.cli.supervisor import Supervisor
from services.cli.system_config import SystemConfig
from services.security.principal import Role


class LiveSystem:
    """The started system: its config (addresses, local tokens) and the web app's URL."""

    def __init__(self, config: SystemConfig, supervisor: Supervisor, ids: list[str]) -> None:
        self.config = config
        self.supervisor = supervisor
        self.ids = ids
        self.url = config.web_url

    def token(self, role: Role) -> str:
        return self.config.security.role_token(role).read_text().strip()
