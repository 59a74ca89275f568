"""The single exception tree of plc-integrity.

Every failure the tool expects ends up as one of these; the CLI catches only
the root and maps each branch to a documented exit code.  Vendor exceptions
(snap7, pycomm3, pymodbus, SQLAlchemy, cryptography) are translated where they
are raised, with ``raise ... from exc``, and never reach the user as a traceback.

    PlcIntegrityError
    ├── ConfigError                  bad site.toml / inventory / arguments       exit 2
    ├── DeviceError                  the device could not be checked             exit 3
    │   ├── DeviceRefusedError       connection refused / reset
    │   ├── DeviceUnreachableError   no route, DNS failure, other socket errors
    │   ├── DeviceTimeoutError       the peer stayed silent past the timeout
    │   ├── DeviceProtocolError      malformed reply, or the peer is not that protocol
    │   ├── DeviceAccessDeniedError  protection level / access refused by the device
    │   ├── DeviceIncompleteError    a requested item is missing (e.g. a vanished block)
    │   └── DriverFailureError       the driver itself failed (a bug); reported, never OK
    ├── ReadOnlyViolationError       a driver was about to send a non-read request (a bug)
    ├── BaselineError
    │   ├── NoBaselineError          nothing to compare against                   exit 4
    │   └── BaselineInvalidError     the stored baseline cannot be trusted         exit 5
    │       ├── SignatureInvalidError   the signature does not match the bytes
    │       ├── UntrustedKeyError       signer's key is not in trust/
    │       ├── ChainBrokenError        history edited, reordered, deleted or rolled back
    │       ├── StoreTamperedError      row fields / content disagree with the signed manifest
    │       ├── PolicyError             trust/policy.toml fails verification or has expired
    │       ├── UnapprovedError         too few valid approvals for the policy in force
    │       └── CheckpointError         the signed checkpoint is missing, tampered or rolled back
    ├── KeyFileError                 a private/public key file is unreadable or locked
    ├── StoreError                   the database could not be opened or written
    └── SinkError                    an alert could not be delivered; reported, never fatal
                                     (integrity.alerts.sinks.base)

"Could not check" (DeviceError) and "the baseline is bad" (BaselineInvalidError)
are deliberately separate branches: neither may ever be reported as OK.
"""

from __future__ import annotations

from typing import Any


class PlcIntegrityError(Exception):
    """Root of every error plc-integrity raises on purpose."""

    exit_code = 2


class ConfigError(PlcIntegrityError):
    """The site, inventory or command line is wrong.  Nothing was changed.

    ``file``, ``device`` and ``field`` say where, when known.
    """

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, device: str | None = None,
                 field: str | None = None) -> None:
        self.file = file
        self.device = device
        self.field = field
        where = []
        if file:
            where.append(str(file))
        if device:
            where.append(f"device {device!r}")
        if field:
            where.append(f"field {field!r}")
        self.message = message
        super().__init__(f"{': '.join([', '.join(where), message]) if where else message}")


class DeviceError(PlcIntegrityError):
    """A device could not be (fully) read.  Reported as UNREACHABLE, exit 3.

    ``reason`` is a short stable word for machines (JSON, alerts); the message is
    for people.  ``device`` is filled in by the check that caught it.
    """

    exit_code = 3
    reason = "error"

    def __init__(self, message: str, *, device: str | None = None) -> None:
        self.device = device
        super().__init__(message)


class DeviceRefusedError(DeviceError):
    reason = "refused"


class DeviceUnreachableError(DeviceError):
    reason = "unreachable"


class DeviceTimeoutError(DeviceError):
    reason = "timeout"


class DeviceProtocolError(DeviceError):
    reason = "protocol"


class DeviceAccessDeniedError(DeviceError):
    reason = "access-denied"


class DeviceIncompleteError(DeviceError):
    reason = "incomplete"


class DriverFailureError(DeviceError):
    """An unexpected exception inside a driver: a bug in plc-integrity.  The
    device is reported as not checked (never OK) and the sweep goes on."""

    reason = "driver-error"


class ReadOnlyViolationError(PlcIntegrityError):
    """A driver tried to send something other than a read.  This is a bug in
    plc-integrity, never a device problem; the request was not sent."""

    exit_code = 3
    reason = "read-only-guard"


class BaselineError(PlcIntegrityError):
    pass


class NoBaselineError(BaselineError):
    exit_code = 4
    reason = "no-baseline"


class BaselineInvalidError(BaselineError):
    exit_code = 5
    reason = "invalid"


class SignatureInvalidError(BaselineInvalidError):
    reason = "bad-signature"


class UntrustedKeyError(BaselineInvalidError):
    reason = "untrusted-key"


class ChainBrokenError(BaselineInvalidError):
    reason = "broken-chain"


class StoreTamperedError(BaselineInvalidError):
    reason = "tampered"


class PolicyError(BaselineInvalidError):
    """The site policy cannot be trusted (bad or missing signatures, expired,
    rolled back): every check stops; never a fall-back to "any key may sign"."""

    reason = "policy"


class UnapprovedError(BaselineInvalidError):
    """A baseline lacks the approvals its policy asks for (e.g. a signer was
    revoked as compromised): it needs re-approval."""

    reason = "unapproved"


class CheckpointError(BaselineInvalidError):
    """The signed checkpoint (rollback and freeze anchor) is missing, tampered,
    signed by another key, or older than the one this host last saw."""

    reason = "checkpoint"


class KeyFileError(PlcIntegrityError):
    exit_code = 2


class StoreError(PlcIntegrityError):
    exit_code = 2
    # Set when the cause may pass (a lock held by another writer, a dropped
    # connection during a failover): worth a bounded retry.
    transient = False


class ResultsNotRecordedError(StoreError):
    """The devices were checked but their results could not be written to the
    store (after bounded retries).  Carries the results, which the CLI prints
    so nothing is lost; exit code 6 says the store was not written."""

    exit_code = 6

    def __init__(self, message: str, results: "tuple[Any, ...]" = ()) -> None:
        super().__init__(message)
        self.results = tuple(results)
