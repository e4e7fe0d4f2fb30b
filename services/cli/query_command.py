"""``anneal query``: ranked archive images for an image file or an archive image id."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from annealpb.retrieval.v1 import retrieval_pb2, retrieval_pb2_grpc
from services.cli.console import output_console
from services.cli.credentials import CA, STATE_DIR, TOKEN, client_credentials
from services.cli.endpoints import channel, default_address
from services.security.principal import Role

CALL_TIMEOUT_S = 30.0


def query(
    image: Path | None = typer.Option(None, "--image", help="query image file (JPEG, PNG, TIFF)"),
    image_id: str | None = typer.Option(None, "--id", help="archive image id to query with"),
    k: int = typer.Option(10, "-k", min=1, max=1000, help="hits wanted"),
    retrieval: str = typer.Option(default_address("retrieval"), help="retrieval service host:port"),
    token: str | None = TOKEN,
    ca: Path | None = CA,
    state_dir: Path = STATE_DIR,
) -> None:
    """Retrieve the k archive images most similar to a query."""
    if (image is None) == (image_id is None):
        raise typer.BadParameter("give exactly one of --image FILE or --id IMAGE_ID")
    if image is not None:
        if not image.is_file():
            raise typer.BadParameter(f"{image} is not a readable file", param_hint="--image")
        query_message = retrieval_pb2.Query(image=image.read_bytes())
    else:
        query_message = retrieval_pb2.Query(image_id=image_id)
    request = retrieval_pb2.RetrieveRequest(
        query=query_message, k=k, exclude_query_image=image_id is not None
    )
    security = client_credentials(Role.READER, token, ca, state_dir)
    with channel(retrieval, security) as ch:
        reply = retrieval_pb2_grpc.RetrievalServiceStub(ch).Retrieve(
            request, timeout=CALL_TIMEOUT_S
        )
    table = Table(
        title=f"index v{reply.index_version} ({reply.model_version}), "
        f"{reply.server_time_ms:.1f} ms in the server"
    )
    for column in ("rank", "image", "score", "label"):
        table.add_column(column)
    for hit in reply.hits:
        table.add_row(
            str(hit.rank), hit.image_id, f"{hit.score:.4f}", hit.metadata.get("label", "")
        )
    output_console().print(table)
