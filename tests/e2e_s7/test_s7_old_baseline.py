"""A baseline signed before the S7 driver read the CPU's checksums (SZL 0x0232
index 4) holds block infos and no ``checksums``.  A quick check against it must
still compare the block infos, so it reads them again instead of comparing less:
an upgrade must not turn a changed FC into an OK."""

from __future__ import annotations

import dataclasses

import pytest

from baselines.signing import SigningKey
from drivers.s7 import S7Driver
from integrity import check
from integrity.cli._common import open_store, trust_store
from integrity.inventory import load_site
from simulators import s7_blocks


class PreChecksumsS7(S7Driver):
    """The S7 driver as it captured before it read the checksums (a fake built
    on our own driver: the same reads, the checksums artifact left out)."""

    def collect(self, mode, *, now=None):
        capture = super().collect(mode, now=now)
        policy = {k: v for k, v in capture.policy.items()
                  if k not in ("summaries", "quick_skipped", "block_info")}
        return dataclasses.replace(capture, policy=policy, artifacts=tuple(
            a for a in capture.artifacts if a.key != "checksums"))


@pytest.fixture
def old_baseline(site, hoist, inventory):
    inventory.write(inventory.table(hoist))
    loaded = load_site(site.root)
    with open_store(loaded) as store:
        [outcome] = check.capture_baselines(loaded.devices, store, trust_store(loaded),
                                            SigningKey.load(site.key, None), "before checksums",
                                            driver_factory=PreChecksumsS7)
    assert outcome.error is None, outcome.error
    assert "checksums" not in {a.key for a in outcome.baseline.artifacts()}
    hoist.clear_requests()
    return hoist


def test_quick_check_against_an_old_baseline_reads_block_infos(run, old_baseline, only_reads):
    code, doc = run.json("verify", "plc-hoist", "--quick")
    [result] = doc["results"]
    assert (code, result["status"], result["mode"]) == (0, "OK", "quick"), doc
    assert "get_block_info" in {r.operation for r in old_baseline.requests}

    changed = s7_blocks.build("FC", 2, b"\x10\x20" * 200, name="LIMITS", language="LAD")
    old_baseline.replace_block("FC", 2, changed)
    code, doc = run.json("verify", "plc-hoist", "--quick")
    [result] = doc["results"]
    assert (code, result["status"]) == (1, "DRIFT"), doc
    assert [d["key"] for d in result["differences"]] == ["blocks/FC/2/info"]
    only_reads(old_baseline)


def test_deep_check_against_an_old_baseline_is_ok_and_names_a_changed_block(run, old_baseline):
    code, doc = run.json("verify", "plc-hoist")
    assert code == 0, doc
    old_baseline.flip_mc7_bit("FC", 10, bit=77)
    code, doc = run.json("verify", "plc-hoist")
    assert code == 1 and [d["key"] for d in doc["results"][0]["differences"]] == ["blocks/FC/10"]
