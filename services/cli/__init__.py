"""The ``anneal`` command line for the services: serve, query, label, round, status."""
