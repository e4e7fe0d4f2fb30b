"""Training the metric space on labelled pairs."""
