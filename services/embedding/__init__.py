"""The embedding service: a pool of Ray actors that turn images into embedding vectors."""
