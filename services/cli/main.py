"""The ``anneal`` console script: the core library's commands plus the service commands.

Errors end the command with one line on stderr (``anneal: <reason>``) and a non-zero status:
2 for bad usage, 1 for everything else (a refused or failed call names its gRPC code).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import grpc
import typer

from anneal.cli.app import app as core_app
from services.cli.ingest_command import ingest
from services.cli.label_command import label
from services.cli.labels_command import app as labels_app
from services.cli.query_command import query
from services.cli.round_command import app as round_app
from services.cli.serve_command import serve
from services.cli.status_command import status
from services.cli.token_command import app as token_app
from services.demo.command import demo


def build_app() -> typer.Typer:
    """All commands: core (experiment, ...) and services (serve, query, label, round, labels,
    status, ingest, token)."""
    app = typer.Typer(
        name="anneal",
        help="ANNEAL: content-based image retrieval that learns from image-pair labels.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
    )
    app.registered_commands.extend(core_app.registered_commands)
    app.registered_groups.extend(core_app.registered_groups)
    app.command()(serve)
    app.command()(query)
    app.command()(label)
    app.command()(status)
    app.command()(ingest)
    app.add_typer(round_app, name="round")
    app.add_typer(labels_app, name="labels")
    app.add_typer(token_app, name="token")
    app.command()(demo)
    return app


def _fail(message: str, code: int) -> int:
    print(f"anneal: {' '.join(message.split())}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; the exit status."""
    command = typer.main.get_command(build_app())
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        # Outside standalone mode click returns the code of a typer.Exit instead of raising.
        code = command.main(args=args, prog_name="anneal", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        return _fail("aborted", 130)
    except typer.TyperException as exc:  # usage errors (bad option values, missing ones)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        return _fail(message, int(getattr(exc, "exit_code", 2)))
    except grpc.RpcError as exc:
        return _fail(f"{exc.code().name}: {exc.details()}", 1)  # type: ignore[attr-defined]
    except (ValueError, LookupError, OSError, RuntimeError) as exc:
        return _fail(str(exc) or type(exc).__name__, 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    return code if isinstance(code, int) else 0


if __name__ == "__main__":
    sys.exit(main())
