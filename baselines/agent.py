"""A second ``Signer``: an Ed25519 key held by ssh-agent.

The private key never leaves the agent (OpenSSH's ssh-agent, gpg-agent, or a
hardware token such as a YubiKey exposed through an agent); plc-integrity only
asks it to sign.  For ``ssh-ed25519`` keys the agent signs the given bytes
themselves with plain Ed25519 (RFC 8709), so its signatures verify with the
same public key in trust/ as any file key's, and baselines signed either way
are indistinguishable.  The agent is reached through paramiko (its client for
the agent protocol), at ``$SSH_AUTH_SOCK``.

Errors: no agent, no matching key, a refused signature → KeyFileError.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from integrity.errors import KeyFileError

from baselines.signing import PublicKey, short_keyid

_ED25519 = "ssh-ed25519"


def _ssh_strings(blob: bytes) -> list[bytes]:
    """Split an SSH wire blob into its length-prefixed strings."""
    out, i = [], 0
    while i < len(blob):
        if i + 4 > len(blob):
            raise ValueError("truncated length")
        n = int.from_bytes(blob[i:i + 4], "big")
        out.append(blob[i + 4:i + 4 + n])
        if len(out[-1]) != n:
            raise ValueError("truncated string")
        i += 4 + n
    return out


class AgentSigner:
    """Signs through ssh-agent with the Ed25519 key whose key id is ``keyid``."""

    def __init__(self, agent_key: object, public: PublicKey) -> None:
        self._key = agent_key
        self.public_key = public
        self.keyid = public.keyid

    @classmethod
    def find(cls, keyid: str) -> "AgentSigner":
        """The agent's Ed25519 key with this key id.  Raises KeyFileError."""
        try:
            from paramiko.agent import Agent
            from paramiko.ssh_exception import SSHException
        except ImportError as exc:
            raise KeyFileError("signing through ssh-agent needs paramiko: "
                               "pip install 'plc-integrity[agent]'") from exc
        try:
            keys = Agent().get_keys()
        except (SSHException, OSError) as exc:
            raise KeyFileError(f"cannot talk to ssh-agent ($SSH_AUTH_SOCK): {exc}") from exc
        if not keys:
            raise KeyFileError("no ssh-agent, or it holds no keys ($SSH_AUTH_SOCK, ssh-add)")
        for key in keys:
            try:
                name, raw = _ssh_strings(key.asbytes())
            except ValueError:
                continue
            if name.decode("ascii", "replace") != _ED25519 or len(raw) != 32:
                continue
            public = PublicKey(Ed25519PublicKey.from_public_bytes(raw))
            if public.keyid == keyid:
                return cls(key, public)
        raise KeyFileError(f"ssh-agent holds no Ed25519 key {short_keyid(keyid)} "
                           f"(it holds {len(keys)} key(s); ssh-add the right one)")

    def sign(self, data: bytes) -> bytes:
        """Raises KeyFileError if the agent refuses or answers nonsense."""
        try:
            blob = self._key.sign_ssh_data(bytes(data))  # type: ignore[attr-defined]
            name, signature = _ssh_strings(bytes(blob))
        except ValueError as exc:
            raise KeyFileError(f"ssh-agent answered a malformed signature: {exc}") from exc
        except Exception as exc:  # noqa: BLE001 - paramiko's SSHException and socket errors
            raise KeyFileError(f"ssh-agent refused to sign with {short_keyid(self.keyid)}: "
                               f"{exc}") from exc
        if name != _ED25519.encode() or len(signature) != 64:
            raise KeyFileError("ssh-agent answered a signature that is not Ed25519")
        # Never hand on a signature the trusted key would reject.
        self.public_key.verify(signature, data)
        return signature
