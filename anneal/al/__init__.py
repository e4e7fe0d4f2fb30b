"""Active learning of a metric space from pair labels: pools, uncertainty, diversity, state."""
