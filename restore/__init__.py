"""Restoration: the only code in plc-integrity that writes to devices.

``plan`` reads a device (read-only, through the normal drivers) and lists the
exact writes that would bring it back to its baseline; ``apply`` performs
exactly those, gated by a maintenance window, a confirmation and a verified
baseline, and logs each one.

Nothing under drivers/, nor integrity.check, sweep, scheduler or any verify,
sweep, run or watch path imports this package (a test proves it); the writers
here open their own connections, outside the drivers' read-only guard.

The restore drill is not here: it only reads (it rebuilds devices as simulators
on loopback and deep-checks them), so it lives in ``integrity.drill``, where the
scheduler may run it without loading any writer.
"""
