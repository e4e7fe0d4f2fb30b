"""ANNEAL: active learning of a deep metric space from image-pair labels for RS image retrieval."""

__version__ = "0.1.0"
