"""``anneal token create|list|revoke|rotate``: the bearer tokens of a token file.

Servers re-read the file within ANNEAL_TOKEN_RELOAD_S (5 s), so changes need no restart. The
default file is the one `anneal serve` uses (``<state>/security/tokens.json``); ``--tokens-file``
names another (e.g. the one to put into the Kubernetes Secret).
"""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from anneal.cli.console import output_console
from services.cli.credentials import STATE_DIR
from services.security.local_setup import LocalSecurity
from services.security.principal import Role
from services.security.tokens import DEFAULT_TTL_S, create_token, read_tokens, revoke_tokens

app = typer.Typer(help="Create, list, revoke and rotate bearer tokens.", no_args_is_help=True)
TOKENS_FILE = typer.Option(
    None, "--tokens-file", help="token file (default: <state-dir>/security/tokens.json)"
)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str) -> float:
    """Seconds of ``90d``, ``12h``, ``30m`` or ``3600s``; ValueError for anything else."""
    text = value.strip().lower()
    number, unit = text[:-1], text[-1:]
    if unit not in _UNITS or not number.isdigit() or int(number) == 0:
        raise ValueError(f"expires-in {value!r} is not a duration such as 90d, 12h, 30m or 600s")
    return float(int(number) * _UNITS[unit])


def _file(tokens_file: Path | None, state_dir: Path) -> Path:
    return tokens_file or LocalSecurity.of(state_dir).tokens_file


def _when(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(seconds))


@app.command()
def create(
    role: str = typer.Option(..., help="reader, annotator, labelling-service, operator or service"),
    name: str = typer.Option(
        ..., help="who holds it: annotator id, client, labelling service or service name (no ':')"
    ),
    expires_in: str = typer.Option("90d", help="lifetime: 90d, 12h, 30m, 600s"),
    tokens_file: Path | None = TOKENS_FILE,
    state_dir: Path = STATE_DIR,
) -> None:
    """Add a token and print it once (only its salted hash is stored)."""
    ttl = parse_duration(expires_in) if expires_in else DEFAULT_TTL_S
    path = _file(tokens_file, state_dir)
    token, record = create_token(path, name, Role.parse(role), ttl)
    console = output_console(stderr=True)
    console.print(
        f"token {record.id} for {record.name} ({record.role.value}) until "
        f"{_when(record.expires_at)}, in {path}. It is shown once:"
    )
    print(token)


@app.command("list")
def list_tokens(tokens_file: Path | None = TOKENS_FILE, state_dir: Path = STATE_DIR) -> None:
    """The tokens of the file: id, name, role, state, expiry (never the token itself)."""
    path = _file(tokens_file, state_dir)
    if not path.exists():
        raise FileNotFoundError(f"no token file at {path}")
    table = Table(title=str(path))
    for column in ("id", "name", "role", "state", "created", "expires"):
        table.add_column(column)
    now = time.time()
    for r in read_tokens(path):
        table.add_row(
            r.id, r.name, r.role.value, r.state(now), _when(r.created_at), _when(r.expires_at)
        )
    output_console().print(table)


@app.command()
def revoke(
    name: str | None = typer.Option(None, help="revoke every active token of this name"),
    token_id: str | None = typer.Option(None, "--id", help="revoke the token with this id"),
    tokens_file: Path | None = TOKENS_FILE,
    state_dir: Path = STATE_DIR,
) -> None:
    """Revoke tokens; servers refuse them within their reload interval."""
    revoked = revoke_tokens(_file(tokens_file, state_dir), name=name, token_id=token_id)
    for record in revoked:
        output_console().print(f"revoked token {record.id} of {record.name} ({record.role.value})")


@app.command()
def rotate(
    name: str = typer.Option(..., help="whose token to replace"),
    expires_in: str = typer.Option("90d", help="lifetime of the new token"),
    tokens_file: Path | None = TOKENS_FILE,
    state_dir: Path = STATE_DIR,
) -> None:
    """Issue a new token for ``name`` with the same role and revoke the old ones."""
    path = _file(tokens_file, state_dir)
    active = [r for r in read_tokens(path) if r.name == name and r.state(time.time()) == "active"]
    if not active:
        raise LookupError(f"no active token named {name!r} in {path}")
    roles = {r.role for r in active}
    if len(roles) != 1:
        raise ValueError(f"{name!r} holds tokens of several roles; create and revoke by hand")
    old_ids = [r.id for r in active]
    token, record = create_token(path, name, roles.pop(), parse_duration(expires_in))
    for token_id in old_ids:
        revoke_tokens(path, token_id=token_id)
    output_console(stderr=True).print(
        f"new token {record.id} for {name}; revoked {', '.join(old_ids)}. It is shown once:"
    )
    print(token)
