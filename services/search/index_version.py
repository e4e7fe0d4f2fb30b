"""One built index version: the Milvus collection that holds it and what it was built with."""

from dataclasses import dataclass


@dataclass(frozen=True)
class IndexVersion:
    """A loaded, verified collection that can serve queries."""

    version: int
    collection: str
    dim: int
    count: int
    model_version: str
    index_type: str
    metric: str
