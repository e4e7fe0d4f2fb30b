"""How unsure the current model is about each candidate pair (higher = more informative)."""
