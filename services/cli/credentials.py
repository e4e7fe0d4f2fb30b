"""The credentials of the client commands: ``--token`` / ``--ca`` / ``--state-dir``.

A flag wins over its variable (``ANNEAL_TOKEN``, ``ANNEAL_CA``, ``ANNEAL_STATE_DIR``), which
wins over what ``anneal serve`` wrote under ``<state>/security``: the CA, and one token per role
(each command uses the token of the role it needs: query a reader's, label an annotator's,
round an operator's).
"""

from __future__ import annotations

from pathlib import Path

import typer

from services.cli.setting_options import option
from services.common.settings import STATE_DIR as STATE
from services.security.channels import ChannelSecurity
from services.security.local_setup import LocalSecurity
from services.security.principal import Role

TOKEN = typer.Option(
    None,
    "--token",
    envvar="ANNEAL_TOKEN",
    help="bearer token (default: the local token of the command's role under --state-dir)",
    show_default=False,
)
CA = typer.Option(
    None,
    "--ca",
    envvar="ANNEAL_CA",
    help="PEM CA certificate of the servers (default: the local CA under --state-dir)",
    show_default=False,
)
STATE_DIR = option(STATE, Path(STATE.default), "state folder of `anneal serve`")


def _read(path: Path, what: str) -> str:
    try:
        return path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read the {what} {path}: {exc.strerror}") from None


def client_credentials(
    role: Role, token: str | None, ca: Path | None, state_dir: Path
) -> ChannelSecurity:
    """What a command acting as ``role`` sends; ValueError saying how to get a token."""
    local = LocalSecurity.of(state_dir)
    if token is None and ca is None and local.insecure():
        return ChannelSecurity()
    if token is None:
        path = local.role_token(role)
        if not path.is_file():
            raise ValueError(
                f"no token: pass --token or set ANNEAL_TOKEN (an operator makes one with "
                f"`anneal token create --role {role.value} --name <you>`), or start the system "
                f"with `anneal serve --state-dir {state_dir}`, which writes local ones"
            )
        token = _read(path, "token file")
    if ca is None and local.ca.is_file():
        ca = local.ca
    ca_pem = _read(ca, "CA certificate").encode() if ca is not None else None
    return ChannelSecurity(ca=ca_pem, token=token)
