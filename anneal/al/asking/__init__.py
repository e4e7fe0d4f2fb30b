"""How a round's questions are put to annotators: once each, or with a second look at suspects."""
