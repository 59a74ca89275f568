"""Issue 14: a second Signer, an Ed25519 key held by a real ssh-agent."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from baselines.signing import PublicKey

pytestmark = pytest.mark.skipif(
    not (shutil.which("ssh-agent") and shutil.which("ssh-add")),
    reason="needs OpenSSH's ssh-agent and ssh-add (Debian: openssh-client)")


@pytest.fixture
def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A real ssh-agent on a socket in tmp_path, holding one new Ed25519 key."""
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("ssh-agent did not start")
            time.sleep(0.02)
        private = Ed25519PrivateKey.generate()
        key_file = tmp_path / "id_ed25519"
        key_file.write_bytes(private.private_bytes(serialization.Encoding.PEM,
                                                   serialization.PrivateFormat.OpenSSH,
                                                   serialization.NoEncryption()))
        key_file.chmod(0o600)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", str(key_file)], env=env, check=True, capture_output=True)
        key_file.unlink()  # from here on only the agent holds it
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        public = PublicKey(private.public_key())
        # ssh-keygen's one-line form of the public key, as an engineer copies it into trust/
        public.openssh = private.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + b" erin@host\n"
        yield public
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_agent_signatures_verify_like_file_key_signatures(agent):
    from baselines.agent import AgentSigner

    signer = AgentSigner.find(agent.keyid)
    data = b'{"type":"plc-integrity/baseline"}'
    agent.verify(signer.sign(data), data)   # plain Ed25519 over the exact bytes


def test_capture_and_approve_with_a_key_in_the_agent(run, site, hoist, agent):
    (site.root / "trust" / "erin.pub").write_bytes(agent.openssh)
    r = run("baseline", "capture", "--all", "--key", "agent:erin", "--reason", "from the agent")
    assert r.exit_code == 0, r.output
    assert run("verify", "--all").exit_code == 0
    code, doc = run.json("baseline", "history", "vfd-hoist")
    assert doc["baselines"][0]["signer_name"] == "erin"
    assert doc["baselines"][0]["keyid"] == agent.keyid


def test_a_key_the_agent_does_not_hold_is_a_clear_error(run, site, hoist, agent):
    r = run("baseline", "capture", "--all", "--key", "agent:tester", "--reason", "x")
    assert r.exit_code == 2 and "ssh-agent holds no Ed25519 key" in r.output, r.output
