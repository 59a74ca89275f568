"""Issue 10 acceptance: export → verify offline → tamper → verify names what."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from baselines.bundle_tar import TarWriter, read_members


def test_export_is_deterministic_and_readable_by_tar(crane_site, bundle, tmp_path):
    again = tmp_path / "again.plcbak"
    r = crane_site.cli("backup", "export", "--all", "--out", str(again))
    assert r.exit_code == 0, r.output
    assert again.read_bytes() == bundle.read_bytes()
    with tarfile.open(bundle) as tar:  # a standard tool reads it
        names = tar.getnames()
        assert names[0] == "index.json" and names[-1] == "SHA256SUMS"
        assert all(m.mtime == 0 and m.uid == 0 and m.mode == 0o644 for m in tar.getmembers())
        sums = tar.extractfile("SHA256SUMS").read().decode().splitlines()
        for line in sums:  # sha256sum -c would accept these
            digest, name = line.split("  ")
            assert hashlib.sha256(tar.extractfile(name).read()).hexdigest() == digest
    assert sum(n.startswith("blobs/") for n in names) > 50


def test_verify_offline_without_trust_says_it_is_internal_only(crane_site, bundle):
    r = crane_site.cli("backup", "verify", str(bundle))
    assert r.exit_code == 0, r.output
    assert "internally consistent" in r.output and "OK: the bundle is complete" in r.output
    code, doc = crane_site.cli.json("backup", "verify", str(bundle))
    assert code == 0 and doc["schema"] == 1 and doc["ok"] and doc["internal_consistency_only"]
    assert sorted(d["device"] for d in doc["devices"]) == [
        "plc-gantry", "plc-hoist", "plc-trolley", "vfd-gantry", "vfd-hoist", "vfd-trolley"]


def test_verify_against_a_trust_folder(crane_site, bundle, tmp_path):
    code, doc = crane_site.cli.json("backup", "verify", str(bundle), "--trust",
                                    str(crane_site.root / "trust"))
    assert code == 0 and not doc["internal_consistency_only"], doc["problems"]
    stranger = tmp_path / "other-trust"
    stranger.mkdir()
    code, doc = crane_site.cli.json("backup", "verify", str(bundle), "--trust", str(stranger))
    assert code == 5
    assert any("not in" in p["what"] for p in doc["problems"])


def _flip(src: bytes, pos: int) -> bytes:
    b = bytearray(src)
    b[pos] ^= 0x01
    return bytes(b)


def _regions(data: bytes) -> dict[str, int]:
    """One offset inside each kind of place a byte can sit in the file."""
    out: dict[str, int] = {}
    with io.BytesIO(data) as fh:
        for m in read_members(fh):
            kind = m.name.split("/")[0]
            out.setdefault(f"{kind}-header", m.offset + 100)
            out.setdefault(f"{kind}-content", m.offset + 512 + m.size // 2)
            if m.size % 512:
                out.setdefault(f"{kind}-padding", m.offset + 512 + m.size + 1)
    out["end-blocks"] = len(data) - 10 * 1024 + 5 if len(data) % 10240 == 0 else len(data) - 700
    out["last-byte"] = len(data) - 1
    return out


@pytest.mark.parametrize("region", ["index.json-header", "index.json-content", "index.json-padding",
                                    "keys-content", "baselines-content", "baselines-header",
                                    "blobs-content", "blobs-padding", "SHA256SUMS-content",
                                    "end-blocks", "last-byte"])
def test_one_flipped_byte_anywhere_is_exit_5_naming_what(crane_site, bundle, tmp_path, region):
    data = bundle.read_bytes()
    pos = _regions(data)[region]
    bad = tmp_path / "flipped.plcbak"
    bad.write_bytes(_flip(data, pos))
    code, doc = crane_site.cli.json("backup", "verify", str(bad))
    assert code == 5 and not doc["ok"], region
    assert doc["problems"] and all(p["where"] and p["what"] for p in doc["problems"])
    r = crane_site.cli("backup", "verify", str(bad))
    assert r.exit_code == 5 and "TAMPERED or INCOMPLETE" in r.output


def test_every_sampled_byte_flip_is_found(bundle, tmp_path):
    from baselines.bundle_verify import verify_bundle

    data = bundle.read_bytes()
    bad = tmp_path / "flipped.plcbak"
    missed = []
    for pos in range(0, len(data), 211):
        bad.write_bytes(_flip(data, pos))
        if verify_bundle(bad).ok:
            missed.append(pos)
    assert not missed


def _without(data: bytes, drop: str) -> bytes:
    out = io.BytesIO()
    tar = TarWriter(out)
    with io.BytesIO(data) as fh:
        for m in read_members(fh):
            content = b"".join(m.chunks)
            if m.name != drop:
                tar.add(m.name, content)
    tar.close()
    return out.getvalue()


def test_a_removed_blob_is_exit_5_naming_it(crane_site, bundle, tmp_path):
    with tarfile.open(bundle) as tar:
        blob = next(n for n in tar.getnames() if n.startswith("blobs/"))
    bad = tmp_path / "short.plcbak"
    bad.write_bytes(_without(bundle.read_bytes(), blob))
    code, doc = crane_site.cli.json("backup", "verify", str(bad))
    assert code == 5
    assert any(p["where"].startswith(blob) and "removed" in p["what"] for p in doc["problems"])


def test_a_removed_manifest_is_exit_5(crane_site, bundle, tmp_path):
    with tarfile.open(bundle) as tar:
        manifest = next(n for n in tar.getnames() if n.endswith(".json") and "/" in n)
    bad = tmp_path / "short.plcbak"
    bad.write_bytes(_without(bundle.read_bytes(), manifest))
    code, doc = crane_site.cli.json("backup", "verify", str(bad))
    assert code == 5 and any(manifest in p["where"] for p in doc["problems"])


def test_signed_index(crane_site, tmp_path):
    signed = tmp_path / "signed.plcbak"
    r = crane_site.cli("backup", "export", "--all", "--out", str(signed), "--key",
                       str(crane_site.key))
    assert r.exit_code == 0 and "index signed by" in r.output, r.output
    code, doc = crane_site.cli.json("backup", "verify", str(signed), "--trust",
                                    str(crane_site.root / "trust"))
    assert code == 0 and doc["index_signed_by"] == crane_site.keyid
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    code, doc = crane_site.cli.json("backup", "verify", str(signed), "--trust", str(stranger))
    assert code == 5 and any(p["where"] == "index.sig" for p in doc["problems"])


def test_list(crane_site, bundle):
    code, doc = crane_site.cli.json("backup", "list", str(bundle))
    assert code == 0 and doc["schema"] == 1 and doc["verified"] is False
    hoist = doc["devices"]["vfd-hoist"]
    assert hoist["protocol"] == "modbus" and hoist["baselines"][0]["sequence"] == 1
    assert doc["keys"][crane_site.keyid]["name"] == "tester"
    r = crane_site.cli("backup", "list", str(bundle))
    assert "vfd-hoist (modbus)" in r.output and "tester" in r.output


@pytest.mark.parametrize("content", [None, b"not a bundle at all" * 40], ids=["missing", "garbage"])
def test_unreadable_files(crane_site, tmp_path, content):
    path = tmp_path / "x.plcbak"
    if content is not None:
        path.write_bytes(content)
    code, doc = crane_site.cli.json("backup", "verify", str(path))
    if content is None:
        assert code == 2 and "cannot read bundle" in doc["error"]
    else:
        assert code == 5 and doc["problems"][0]["where"] == "container"


def test_export_of_a_device_without_baseline_is_exit_4(crane_site, tmp_path):
    from support.site import Inventory

    Inventory(crane_site.root).write({"name": "vfd-new", "protocol": "modbus", "host": "127.0.0.1",
                                      "holding": ["0-1"]}, file="new.toml")
    try:
        r = crane_site.cli("backup", "export", "vfd-new", "--out", str(tmp_path / "n.plcbak"))
        assert r.exit_code == 4 and not (tmp_path / "n.plcbak").exists()
        r = crane_site.cli("backup", "export", "--all", "--out", str(tmp_path / "a.plcbak"))
        assert r.exit_code == 0 and "vfd-new: skipped (no baseline)" in r.output
    finally:
        (crane_site.root / "devices" / "new.toml").unlink()


def test_a_truncated_bundle_is_exit_5(crane_site, bundle, tmp_path):
    data = bundle.read_bytes()
    short = tmp_path / "short.plcbak"
    short.write_bytes(data[:len(data) // 3])
    code, doc = crane_site.cli.json("backup", "verify", str(short))
    assert code == 5 and any("truncated" in p["what"] for p in doc["problems"])


def test_rotation_keeps_the_newest(crane_site, tmp_path):
    folder = tmp_path / "backups"
    folder.mkdir()
    older = ["plc-integrity-20261101T013000Z.plcbak", "plc-integrity-20261102T013000Z.plcbak",
             "plc-integrity-20261103T013000Z.plcbak"]
    for name in older:
        (folder / name).write_bytes(b"old")
    (folder / "notes.txt").write_text("not a bundle: never touched")
    code, doc = crane_site.cli.json("backup", "export", "--all", "--dir", str(folder),
                                    "--keep", "2")
    assert code == 0 and doc["file"].startswith(str(folder / "plc-integrity-2"))
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [older[2], Path(doc["file"]).name, "notes.txt"])
    assert sorted(Path(p).name for p in doc["removed"]) == older[:2]
    r = crane_site.cli("backup", "export", "--all", "--keep", "2", "--out", str(tmp_path / "x"))
    assert r.exit_code == 2 and "--keep works with --dir" in r.output


# -- the exporting site's signed checkpoint (issue 14) ----------------------------------------

def _rebuild(data: bytes, replace: dict[str, bytes | None]) -> bytes:
    """The bundle with members replaced (None: dropped) and SHA256SUMS written
    again to match, as an attacker who understands the format would."""
    out, sums = io.BytesIO(), []
    tar = TarWriter(out)
    with io.BytesIO(data) as fh:
        for m in read_members(fh):
            content = replace.get(m.name, b"".join(m.chunks))
            if m.name == "SHA256SUMS" or content is None:
                continue
            tar.add(m.name, content)
            sums.append(f"{hashlib.sha256(content).hexdigest()}  {m.name}\n")
    tar.add("SHA256SUMS", "".join(sums).encode())
    tar.close()
    return out.getvalue()


def _member(data: bytes, name: str) -> bytes:
    with io.BytesIO(data) as fh:
        return next(b"".join(m.chunks) for m in read_members(fh) if m.name == name)


def test_the_bundle_carries_the_sites_checkpoint(crane_site, bundle, tmp_path):
    from baselines.checkpoint import read_checkpoint

    site_cp = read_checkpoint(crane_site.root / "state" / "checkpoint.json")
    code, doc = crane_site.cli.json("backup", "verify", str(bundle))
    assert code == 0, doc["problems"]
    cp = doc["checkpoint"]
    assert cp["version"] == site_cp.version and cp["keyid"] == site_cp.keyid and cp["ok"]
    assert cp["vouched_by"] is None  # the checkpoint key is not among the bundle's keys
    assert _member(bundle.read_bytes(), "checkpoint.json") == \
        (crane_site.root / "state" / "checkpoint.json").read_bytes()
    code, listed = crane_site.cli.json("backup", "list", str(bundle))
    assert listed["checkpoint"]["version"] == site_cp.version
    assert f"checkpoint: version {site_cp.version}" in crane_site.cli("backup", "list",
                                                                      str(bundle)).output
    # A signed index names the checkpoint's hash, so its signature vouches for it.
    signed = tmp_path / "signed.plcbak"
    assert crane_site.cli("backup", "export", "--all", "--out", str(signed), "--key",
                          str(crane_site.key)).exit_code == 0
    code, doc = crane_site.cli.json("backup", "verify", str(signed), "--trust",
                                    str(crane_site.root / "trust"))
    assert code == 0 and doc["checkpoint"]["vouched_by"] == "the index signature"


def _edited_heads(envelope: bytes) -> bytes:
    import json
    env = json.loads(envelope)
    env["signed"] = env["signed"].replace('"sequence":1', '"sequence":2', 1)
    return json.dumps(env).encode()


@pytest.mark.parametrize("change,words", [
    pytest.param(lambda cp: {"checkpoint.json": _edited_heads(cp)}, "signature does not match",
                 id="heads-edited"),
    pytest.param(lambda cp: {"checkpoint.json": None}, "missing", id="removed"),
    pytest.param(lambda cp: {"checkpoint.json": cp[:-30] + b"}"}, "damaged", id="damaged"),
])
def test_a_tampered_checkpoint_member_is_exit_5(crane_site, bundle, tmp_path, change, words):
    data = bundle.read_bytes()
    bad = tmp_path / "bad.plcbak"
    bad.write_bytes(_rebuild(data, change(_member(data, "checkpoint.json"))))
    code, doc = crane_site.cli.json("backup", "verify", str(bad))
    assert code == 5 and not doc["ok"]
    found = [p for p in doc["problems"] if p["where"] == "checkpoint.json"]
    assert any(words in p["what"] for p in found), doc["problems"]


def test_a_checkpoint_whose_heads_differ_from_the_histories_is_exit_5(crane_site, bundle,
                                                                       tmp_path):
    """A genuinely signed checkpoint, index rewritten to name it: the heads still
    have to be the bundle's, and the device that differs is named."""
    from baselines.bundle_verify import list_bundle
    from baselines.checkpoint import Checkpoint, Entry
    from baselines.localstate import LocalState
    from integrity import canonical

    index = list_bundle(bundle)
    heads = {d: Entry(v["head"]["sequence"], v["head"]["id"]) for d, v in index["devices"].items()}
    heads["vfd-hoist"] = Entry(2, "ab" * 32)
    other = Checkpoint(tmp_path / "cp.json", LocalState(tmp_path, tmp_path / "state"),
                       key_path=tmp_path / "cp.key")
    cp = other.write(heads, create_key=True)
    envelope = (tmp_path / "cp.json").read_bytes()
    index["checkpoint"] = {"version": cp.version, "keyid": cp.keyid,
                           "sha256": hashlib.sha256(envelope).hexdigest()}
    bad = tmp_path / "swapped.plcbak"
    bad.write_bytes(_rebuild(bundle.read_bytes(), {"index.json": canonical.encode(index),
                                                   "checkpoint.json": envelope}))
    code, doc = crane_site.cli.json("backup", "verify", str(bad))
    assert code == 5
    assert [p["where"] for p in doc["problems"]] == ["checkpoint.json"]
    assert "vfd-hoist" in doc["problems"][0]["what"] and "#2" in doc["problems"][0]["what"]
    r = crane_site.cli("backup", "verify", str(bad))
    assert r.exit_code == 5 and "vfd-hoist: the checkpoint" in r.output


def test_a_lagging_checkpoint_is_left_out_and_said(crane, site, run, inventory, tmp_path,
                                                   monkeypatch):
    """A baseline stored without the checkpoint key leaves the checkpoint behind
    (accepted on read until the next signed one): the backup is still made,
    without it, and says why."""
    inventory.write(inventory.table(crane["vfd-hoist"]))
    assert run.capture().exit_code == 0
    monkeypatch.setenv("PLC_INTEGRITY_CHECKPOINT_KEY", str(tmp_path / "not-here.key"))
    r = run.capture(reason="by someone without the checkpoint key")
    assert r.exit_code == 2 and "rollback anchor was not updated" in r.output
    out = tmp_path / "lagging.plcbak"
    code, doc = run.json("backup", "export", "--all", "--out", str(out))
    assert code == 0 and doc["checkpoint_version"] is None
    assert "records #1 for vfd-hoist, whose history ends at #2" in doc["checkpoint_left_out"]
    code, doc = run.json("backup", "verify", str(out))
    assert code == 0 and doc["checkpoint"] is None
