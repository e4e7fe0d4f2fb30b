"""``make demo``: the whole system on an archive, three rounds, live queries, a learning curve."""
