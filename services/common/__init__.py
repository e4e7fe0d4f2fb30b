"""The server layer every service shares: catalog, server builder, metrics, errors, settings."""
