"""Key files, signatures and the trust folder, on real files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from baselines.signing import PublicKey, SigningKey, TrustStore, generate_keypair, short_keyid
from integrity.errors import KeyFileError, SignatureInvalidError, UntrustedKeyError


def test_generate_writes_private_key_0600_and_public_key(tmp_path: Path) -> None:
    key_path, pub_path, keyid = generate_keypair("alice", tmp_path / "keys", None)
    assert key_path == tmp_path / "keys" / "alice.key" and pub_path.name == "alice.pub"
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert b"BEGIN PRIVATE KEY" in key_path.read_bytes()
    assert b"BEGIN PUBLIC KEY" in pub_path.read_bytes()
    key = SigningKey.load(key_path, None)
    assert key.keyid == keyid == PublicKey.load(pub_path).keyid
    assert len(keyid) == 64 and short_keyid(keyid) == keyid[:16]
    assert not SigningKey.is_encrypted(key_path)


def test_private_key_is_0600_even_with_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        key_path, _pub, _id = generate_keypair("bob", tmp_path, None)
    finally:
        os.umask(old)
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600


def test_generate_refuses_to_overwrite(tmp_path: Path) -> None:
    generate_keypair("alice", tmp_path, None)
    before = (tmp_path / "alice.key").read_bytes()
    with pytest.raises(KeyFileError, match="alice.key already exists; refusing to overwrite"):
        generate_keypair("alice", tmp_path, None)
    assert (tmp_path / "alice.key").read_bytes() == before


def test_generate_leaves_nothing_when_the_pub_exists(tmp_path: Path) -> None:
    (tmp_path / "carol.pub").write_text("someone else's")
    with pytest.raises(KeyFileError, match="carol.pub already exists"):
        generate_keypair("carol", tmp_path, None)
    assert not (tmp_path / "carol.key").exists()


@pytest.mark.parametrize("name", ["../evil", "", "a/b", ".hidden", "x" * 65])
def test_generate_rejects_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(KeyFileError, match="is not valid"):
        generate_keypair(name, tmp_path, None)


def test_encrypted_key_round_trip_and_wrong_passphrase(tmp_path: Path) -> None:
    key_path, pub_path, keyid = generate_keypair("alice", tmp_path, b"correct horse")
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in key_path.read_bytes()
    assert SigningKey.is_encrypted(key_path)
    key = SigningKey.load(key_path, b"correct horse")
    assert key.keyid == keyid
    PublicKey.load(pub_path).verify(key.sign(b"data"), b"data")
    with pytest.raises(KeyFileError, match="cannot decrypt private key .*: wrong passphrase"):
        SigningKey.load(key_path, b"wrong")
    with pytest.raises(KeyFileError, match="is encrypted: a passphrase is needed"):
        SigningKey.load(key_path, None)


def test_empty_passphrase_is_refused(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="empty passphrase"):
        generate_keypair("alice", tmp_path, b"")
    assert list(tmp_path.iterdir()) == []


def test_unusable_key_files(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot read private key .*missing.key"):
        SigningKey.load(tmp_path / "missing.key", None)
    (tmp_path / "junk.key").write_bytes(b"not a key")
    with pytest.raises(KeyFileError, match="junk.key is not a PEM private key"):
        SigningKey.load(tmp_path / "junk.key", None)
    (tmp_path / "junk.pub").write_bytes(b"not a key")
    with pytest.raises(KeyFileError, match="junk.pub is not a PEM public key"):
        PublicKey.load(tmp_path / "junk.pub")
    ec_key = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "ec.key").write_bytes(ec_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    with pytest.raises(KeyFileError, match="not an Ed25519 private key"):
        SigningKey.load(tmp_path / "ec.key", None)
    (tmp_path / "ec.pub").write_bytes(ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    with pytest.raises(KeyFileError, match="not an Ed25519 public key"):
        PublicKey.load(tmp_path / "ec.pub")


def test_verify_rejects_other_bytes_and_other_keys() -> None:
    alice, bob = SigningKey.from_seed(b"\x01" * 32), SigningKey.from_seed(b"\x02" * 32)
    sig = alice.sign(b"exact bytes")
    alice.public_key.verify(sig, b"exact bytes")
    with pytest.raises(SignatureInvalidError, match="does not match"):
        alice.public_key.verify(sig, b"exact bytes ")
    with pytest.raises(SignatureInvalidError):
        bob.public_key.verify(sig, b"exact bytes")
    with pytest.raises(SignatureInvalidError):
        alice.public_key.verify(sig[:-1], b"exact bytes")


def test_verify_accepts_only_what_openssl_accepts_too() -> None:
    # PublicKey verifies with libsodium; OpenSSL (cryptography) must agree on
    # the genuine signature and on every one-bit change of signature or bytes.
    from cryptography.exceptions import InvalidSignature

    key = SigningKey.from_seed(b"\x03" * 32)
    data = b'{"device":"vfd-1","sequence":1}'
    sig = key.sign(data)
    openssl = key.public_key._key
    openssl.verify(sig, data)
    key.public_key.verify(sig, data)
    for i in range(len(sig) * 8):
        bad = bytearray(sig)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(SignatureInvalidError):
            key.public_key.verify(bytes(bad), data)
        with pytest.raises(InvalidSignature):
            openssl.verify(bytes(bad), data)
    for i in range(len(data) * 8):
        bad = bytearray(data)
        bad[i // 8] ^= 1 << (i % 8)
        with pytest.raises(SignatureInvalidError):
            key.public_key.verify(sig, bytes(bad))


def test_trust_store_add_list_get(tmp_path: Path) -> None:
    _k, pub, keyid = generate_keypair("alice", tmp_path / "keys", None)
    trust = TrustStore(tmp_path / "trust")
    with pytest.raises(UntrustedKeyError, match="trust folder does not exist"):
        trust.get(keyid)
    assert trust.add(pub) == keyid
    assert trust.add(pub) == keyid  # idempotent
    assert [(k.keyid, k.name) for k in trust.keys()] == [(keyid, "alice")]
    assert trust.get(keyid).keyid == keyid
    with pytest.raises(UntrustedKeyError, match=f"signer key {'00' * 8} is not in"):
        trust.get("00" * 32)


def test_trust_store_refuses_to_swap_a_key_under_an_existing_name(tmp_path: Path) -> None:
    _k, pub1, keyid1 = generate_keypair("alice", tmp_path / "a", None)
    _k, pub2, _id2 = generate_keypair("alice", tmp_path / "b", None)
    trust = TrustStore(tmp_path / "trust")
    trust.add(pub1)
    with pytest.raises(KeyFileError, match="alice.pub already holds another key"):
        trust.add(pub2)
    assert [k.keyid for k in trust.keys()] == [keyid1]


def test_trust_store_reports_unusable_files(tmp_path: Path) -> None:
    trust = TrustStore(tmp_path)
    (tmp_path / "broken.pub").write_bytes(b"garbage")
    (tmp_path / "notes.txt").write_text("ignored: not a .pub")
    assert trust.keys() == []
    assert [(p.name, "not a PEM public key" in why) for p, why in trust.problems()] == [
        ("broken.pub", True)]
