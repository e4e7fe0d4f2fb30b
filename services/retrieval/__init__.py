"""The retrieval service: live queries by image, archive id or vector over the serving index."""
