"""Dual-encoder models (every family quirk), text and image embedding caches, robust image decoding."""
