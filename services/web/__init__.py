"""The web app: archive images and retrieval results shown to people in a browser."""
