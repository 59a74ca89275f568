"""Restoration: the only code in plc-integrity that writes to devices.

``drill`` rebuilds each device as a simulator from its backed-up baseline and
proves it checks clean (writes nothing to any real device).  ``plan`` reads a
device (read-only, through the normal drivers) and lists the exact writes that
would bring it back to its baseline; ``apply`` performs exactly those, gated by
a maintenance window, a confirmation and a verified baseline, and logs each one.

Nothing under drivers/, nor integrity.check, sweep, scheduler or any verify,
sweep, run or watch path imports this package (a test proves it); the writers
here open their own connections, outside the drivers' read-only guard.
"""
