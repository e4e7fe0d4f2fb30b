"""How `budget` pairs are picked from scored candidates."""
