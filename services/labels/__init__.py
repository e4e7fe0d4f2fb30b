"""Label ingestion service: durable similar / dissimilar answers for the pairs of each round."""
