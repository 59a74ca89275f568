"""Protocol drivers: read a device's artifacts, and nothing else.

A driver knows devices and bytes.  It never imports ``baselines`` (storage,
signing) or alerting: it only turns a device into a ``Capture``.
"""
