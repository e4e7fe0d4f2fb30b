"""Archives of remote-sensing images: scanning, decoding, splitting."""
