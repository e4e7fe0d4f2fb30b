"""Backbones, the projection head and the embedding model built from them."""
