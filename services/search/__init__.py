"""Vector search service: a versioned nearest-neighbour index over Milvus, served over gRPC."""
