"""Ed25519 keys, signatures and the site's trust folder.

Engineers hold private keys (``NAME.key``, PKCS#8 PEM, optionally encrypted with
a passphrase, mode 0600); checks and sweeps only ever need public keys.  The
public keys allowed to sign baselines live in the site's ``trust/`` folder as
``*.pub`` files (PEM SubjectPublicKeyInfo), outside the database, so write
access to the database alone cannot make a forged baseline pass.

A key is named by its key id: the SHA-256 of the raw 32-byte public key, in hex.
Trust is decided by key id, never by file name: replacing ``trust/alice.pub``
with another key does not make baselines signed by the old key pass.

Errors: an unreadable, locked or wrong-type key file is ``KeyFileError``; a
signature that does not match is ``SignatureInvalidError``; a signer whose key
is not in ``trust/`` (could not verify) is ``UntrustedKeyError``.  The last two
are kept apart on purpose: "forged" and "cannot tell" are different findings.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path
from typing import Any, Mapping, NamedTuple, Protocol

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.exceptions import CryptoError
from nacl.signing import VerifyKey

from integrity.errors import KeyFileError, PolicyError, SignatureInvalidError, UntrustedKeyError

KEY_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")
KEYID_RE = re.compile(r"[0-9a-f]{64}")
_ENCRYPTED_PEM = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


def keyid_of(public: Ed25519PublicKey) -> str:
    """Key id: SHA-256 of the raw public key, hex (64 characters)."""
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def short_keyid(keyid: str) -> str:
    """The first 16 hex digits, for display.  Never used to look a key up."""
    return keyid[:16]


def _public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.PEM,
                               serialization.PublicFormat.SubjectPublicKeyInfo)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` with ``mode`` from the first byte on, refusing to replace
    anything (O_EXCL) or to follow a planted symlink (O_NOFOLLOW)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError as exc:
        raise KeyFileError(f"{path} already exists; refusing to overwrite a key file") from exc
    except OSError as exc:
        raise KeyFileError(f"cannot create {path}: {exc.strerror or exc}") from exc
    try:
        # os.open's mode is filtered by the umask; fchmod makes a private key
        # exactly 0600 whatever the umask (never wider, and not narrower than usable).
        if mode == 0o600:
            os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise KeyFileError(f"cannot write {path}: {exc.strerror or exc}") from exc
    os.close(fd)


def _read(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} {path}: {exc.strerror or exc}") from exc


def generate_keypair(name: str, out_dir: Path, passphrase: bytes | None) -> tuple[Path, Path, str]:
    """Create ``out_dir/NAME.key`` (private, 0600) and ``out_dir/NAME.pub``.

    Returns (key path, pub path, key id).  ``passphrase`` encrypts the private
    key (None: unencrypted).  Raises KeyFileError for a bad name, an empty
    passphrase, an existing file (nothing is overwritten) or an I/O failure.
    """
    if not KEY_NAME_RE.fullmatch(name):
        raise KeyFileError(f"key name {name!r} is not valid: use letters, digits, '_', '-', '.' "
                           "(up to 64, starting with a letter or digit)")
    if passphrase is not None and not passphrase:
        raise KeyFileError("empty passphrase: give a passphrase or choose no passphrase")
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise KeyFileError(f"cannot create key folder {out_dir}: {exc.strerror or exc}") from exc
    key_path, pub_path = out_dir / f"{name}.key", out_dir / f"{name}.pub"
    for path in (key_path, pub_path):
        if path.exists() or path.is_symlink():
            raise KeyFileError(f"{path} already exists; refusing to overwrite a key file")
    private = Ed25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase
        else serialization.NoEncryption())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                encryption)
    _write_new(key_path, pem, 0o600)
    try:
        _write_new(pub_path, _public_pem(private.public_key()), 0o644)
    except KeyFileError:
        key_path.unlink(missing_ok=True)  # never leave half a key pair behind
        raise
    return key_path, pub_path, keyid_of(private.public_key())


class PublicKey:
    """A verifying key.  ``path`` is where it was loaded from, if anywhere."""

    def __init__(self, key: Ed25519PublicKey, path: Path | None = None) -> None:
        self._key = key
        self.path = path
        self.keyid = keyid_of(key)
        # Signatures are checked by libsodium: half OpenSSL's time per verify
        # (status verifies every device's baseline on each read), and the
        # stricter of the two (it also refuses small-order and non-canonical
        # points), so nothing it accepts would fail OpenSSL's check.
        self._verifier = VerifyKey(key.public_bytes_raw())

    @classmethod
    def load(cls, path: Path) -> "PublicKey":
        """Raises KeyFileError if the file is unreadable, not PEM or not Ed25519."""
        data = _read(path, "public key")
        try:
            if data.lstrip().startswith(b"ssh-"):
                # OpenSSH's one-line form (ssh-keygen's .pub), e.g. for a key in ssh-agent.
                key = serialization.load_ssh_public_key(data.strip())
            else:
                key = serialization.load_pem_public_key(data)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise KeyFileError(f"{path} is not a PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise KeyFileError(f"{path} holds a {type(key).__name__.lstrip('_')}, not an Ed25519 "
                               "public key")
        return cls(key, Path(path))

    def pem(self) -> bytes:
        return _public_pem(self._key)

    def verify(self, signature: bytes, data: bytes) -> None:
        """Raises SignatureInvalidError unless ``signature`` signs exactly ``data``."""
        try:
            self._verifier.verify(bytes(data), bytes(signature))
        except (CryptoError, ValueError, TypeError) as exc:
            raise SignatureInvalidError(
                f"signature does not match the signed bytes (key {short_keyid(self.keyid)})") from exc


class Signer(Protocol):
    """What the store needs to sign a baseline: the key id it signs as, and a
    callable that signs bytes.  A SigningKey is one; so is a key held elsewhere
    (an HSM, an agent) behind the same two members."""

    keyid: str

    def sign(self, data: bytes) -> bytes: ...


class SigningKey:
    """A private key, loaded for signing.  Never stored by plc-integrity."""

    def __init__(self, key: Ed25519PrivateKey, path: Path | None = None) -> None:
        self._key = key
        self.path = path
        self.public_key = PublicKey(key.public_key())
        self.keyid = self.public_key.keyid

    @classmethod
    def from_seed(cls, seed: bytes) -> "SigningKey":
        """A key from its 32-byte seed: for deterministic test fixtures only."""
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @staticmethod
    def is_encrypted(path: Path) -> bool:
        """True if the key file needs a passphrase.  Raises KeyFileError if unreadable."""
        return _read(path, "private key").lstrip().startswith(_ENCRYPTED_PEM)

    @classmethod
    def load(cls, path: Path, passphrase: bytes | None) -> "SigningKey":
        """Load NAME.key.  A passphrase given for an unencrypted key is ignored.

        Raises KeyFileError: unreadable file, missing or wrong passphrase, not a
        PEM private key, not Ed25519.
        """
        data = _read(path, "private key")
        encrypted = data.lstrip().startswith(_ENCRYPTED_PEM)
        if encrypted and not passphrase:
            raise KeyFileError(f"private key {path} is encrypted: a passphrase is needed")
        try:
            key = serialization.load_pem_private_key(data, password=passphrase if encrypted else None)
        except ValueError as exc:
            if encrypted:
                raise KeyFileError(f"cannot decrypt private key {path}: wrong passphrase "
                                   "(or the file is damaged)") from exc
            raise KeyFileError(f"{path} is not a PEM private key") from exc
        except (TypeError, UnsupportedAlgorithm) as exc:
            raise KeyFileError(f"{path} is not a usable PEM private key: {exc}") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise KeyFileError(f"{path} holds a {type(key).__name__.lstrip('_')}, not an Ed25519 "
                               "private key")
        return cls(key, Path(path))

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(bytes(data))


class TrustedKey(NamedTuple):
    keyid: str
    name: str   # the file's stem, for display only
    path: Path


class TrustStore:
    """The ``trust/`` folder: every ``*.pub`` in it is a key allowed to sign.

    The folder is read on every lookup, so removing a file takes effect at once
    (a long-running daemon needs no restart to stop trusting a key).  The
    site policy (``policy.py``) is read with it: ``tags`` are the inventory's
    device tags its rules may name, ``local`` this host's memory of versions.
    """

    def __init__(self, folder: Path, *, tags: Mapping[str, frozenset[str]] | None = None,
                 local: Any = None) -> None:
        self.folder = Path(folder)
        self.tags = tags
        self.local = local

    def _scan(self) -> tuple[dict[str, tuple[TrustedKey, PublicKey]], list[tuple[Path, str]]]:
        found: dict[str, tuple[TrustedKey, PublicKey]] = {}
        problems: list[tuple[Path, str]] = []
        try:
            paths = sorted(p for p in self.folder.iterdir() if p.suffix == ".pub")
        except FileNotFoundError:
            return found, [(self.folder, "trust folder does not exist")]
        except OSError as exc:
            return found, [(self.folder, f"cannot list trust folder: {exc.strerror or exc}")]
        for path in paths:
            try:
                key = PublicKey.load(path)
            except KeyFileError as exc:
                problems.append((path, str(exc)))
                continue
            found.setdefault(key.keyid, (TrustedKey(key.keyid, path.stem, path), key))
        return found, problems

    def keys(self) -> list[TrustedKey]:
        """Readable trusted keys, by file name.  See ``problems()`` for the rest."""
        return self.snapshot().keys()

    def problems(self) -> list[tuple[Path, str]]:
        """Files in trust/ that could not be used, with why (for ``keys list``)."""
        return self.snapshot().problems()

    def snapshot(self) -> "TrustSnapshot":
        """The folder as it is now, for verifying many baselines in one go."""
        from baselines.policy import load_policy

        found, problems = self._scan()
        snap = TrustSnapshot(self.folder, found, problems, tags=self.tags)
        try:
            snap.policy = load_policy(self.folder, snap, local=self.local)
        except PolicyError as exc:
            snap.policy = exc  # every read of a baseline raises it; nothing falls back
        return snap

    def get(self, keyid: str) -> PublicKey:
        """Raises UntrustedKeyError if no readable trust file holds ``keyid``."""
        return self.snapshot().get(keyid)

    def add(self, pub_path: Path, name: str | None = None) -> str:
        """Copy a public key into trust/ as NAME.pub (default: the file's stem).

        Returns its key id.  Adding a key that is already trusted under that
        name is a no-op; a different key under an existing name is refused
        (KeyFileError), so trust is never silently swapped.
        """
        key = PublicKey.load(pub_path)
        name = name or Path(pub_path).stem
        if not KEY_NAME_RE.fullmatch(name):
            raise KeyFileError(f"trusted key name {name!r} is not valid")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise KeyFileError(f"cannot create trust folder {self.folder}: {exc.strerror or exc}") \
                from exc
        target = self.folder / f"{name}.pub"
        if target.exists():
            existing = PublicKey.load(target)
            if existing.keyid == key.keyid:
                return key.keyid
            raise KeyFileError(f"{target} already holds another key "
                               f"({short_keyid(existing.keyid)}); remove it first or pick another name")
        _write_new(target, key.pem(), 0o644)
        return key.keyid


class TrustSnapshot:
    """trust/ read once; lookups by key id."""

    def __init__(self, folder: Path, found: dict[str, tuple[TrustedKey, PublicKey]],
                 problems: list[tuple[Path, str]], *,
                 tags: Mapping[str, frozenset[str]] | None = None) -> None:
        self.folder = folder
        self._found = found
        self._problems = problems
        self.tags = tags
        # The verified site policy, None (no policy: one trusted signature
        # suffices), or the PolicyError that makes every check fail.
        self.policy: Any = None

    def tags_of(self, device: str) -> frozenset[str] | None:
        return self.tags.get(device) if self.tags is not None else None

    def snapshot(self) -> "TrustSnapshot":
        """Itself: a snapshot can stand wherever a TrustStore is read."""
        return self

    def keys(self) -> list[TrustedKey]:
        return sorted((entry for entry, _key in self._found.values()), key=lambda k: k.name)

    def problems(self) -> list[tuple[Path, str]]:
        return list(self._problems)

    def name_of(self, keyid: str) -> str | None:
        entry = self._found.get(keyid)
        return entry[0].name if entry else None

    def get(self, keyid: str) -> PublicKey:
        entry = self._found.get(keyid)
        if entry is not None:
            return entry[1]
        message = f"signer key {short_keyid(keyid)} is not in {self.folder}"
        if self._problems:
            # An unreadable file might have held the key: say so rather than
            # letting "untrusted" hide a broken trust folder.
            message += "; unusable: " + "; ".join(f"{p.name}: {why}" for p, why in self._problems)
        raise UntrustedKeyError(message)
