"""The `anneal` command line (core commands; services add theirs in services.cli)."""
