"""Simulated active-learning experiments on a labelled archive: rounds, results, plots."""
