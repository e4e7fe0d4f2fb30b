"""Pair selection service: opens active-learning rounds and keeps each round's pairs."""
