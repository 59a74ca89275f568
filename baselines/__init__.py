"""Signed baselines: keys and trust, the canonical manifest, the SQLAlchemy store.

Knows nothing of protocols: it stores and verifies what ``integrity.model`` describes.
"""
