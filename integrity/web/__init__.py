"""The read-only dashboard (``plc-integrity serve``).

``views`` gathers what a page shows from the store (the same library calls
the CLI's ``--json`` documents come from), ``svg`` draws plots on the server,
``app`` is the Starlette application (GET only, security headers, auth),
``server`` checks the bind and auth settings and runs uvicorn.  Nothing here
reads a device or writes the store.
"""
