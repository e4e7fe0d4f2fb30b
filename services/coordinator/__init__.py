"""Coordinator service: the ANNEAL round state machine, from pair selection to index swap."""
