"""What the checkpoint and the site policy cost a check, against the store without them.

Builds one store of N devices (one baseline each, plus a few proposals), then
times ``latest_many`` over every device, which is what each verify and sweep
runs before comparing, in three set-ups: (a) the head file only, as before
issue 14; (b) with the signed checkpoint; (c) with the checkpoint and a signed
policy asking for two approvals (every baseline approved by two keys).  Also
times appends, where the checkpoint adds a signature and an fsync per change.
Best of R rounds; the machine is shared, so compare the ratios.

    python benchmarks/trust_bench.py --devices 300 --rounds 5
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baselines.checkpoint import Checkpoint  # noqa: E402
from baselines.policy_edit import sign_policy, write_draft  # noqa: E402
from baselines.signing import SigningKey, TrustStore  # noqa: E402
from baselines.store import Store  # noqa: E402
from integrity.model import Artifact, Capture, Kind, Mode  # noqa: E402


def _capture(device: str) -> Capture:
    return Capture(device=device, protocol="modbus", mode=Mode.DEEP,
                   captured_at=datetime.now(timezone.utc),
                   artifacts=tuple(Artifact.from_value(f"holding/{i}", Kind.CONFIG,
                                                       {"start": i, "values": [i, 1, 2]})
                                   for i in range(20)))


def _best(fn, rounds: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="trust-bench-"))
    os.environ["PLC_INTEGRITY_STATE_DIR"] = str(root / "host")
    alice, bob = SigningKey.from_seed(b"\x01" * 32), SigningKey.from_seed(b"\x02" * 32)
    (root / "trust").mkdir()
    (root / "trust" / "alice.pub").write_bytes(alice.public_key.pem())
    (root / "trust" / "bob.pub").write_bytes(bob.public_key.pem())
    names = [f"vfd-{i:04d}" for i in range(args.devices)]
    heads = root / "state" / "heads.json"

    plain = Store.open(root / "plc-integrity.db", heads_path=heads)
    trust = TrustStore(root / "trust").snapshot()
    started = time.perf_counter()
    for n in names[: args.devices // 2]:
        plain.append_baseline(_capture(n), alice, "bench", trust=trust)
    append_plain = (time.perf_counter() - started) / (args.devices // 2)
    anchored = Store.open(root / "plc-integrity.db", heads_path=heads,
                          checkpoint=Checkpoint.for_site(root))
    started = time.perf_counter()
    for n in names[args.devices // 2:]:
        anchored.append_baseline(_capture(n), alice, "bench", trust=trust)
    append_anchored = (time.perf_counter() - started) / (args.devices - args.devices // 2)
    anchored.sign_checkpoint()

    a = _best(lambda: plain.latest_many(names, trust), args.rounds)
    b = _best(lambda: anchored.latest_many(names, trust), args.rounds)

    write_draft(root / "trust", {"version": 1, "expires": "2099-01-01",
                                 "root": {"keys": ["alice"], "threshold": 1},
                                 "keys": {"alice": {"keyid": alice.keyid},
                                          "bob": {"keyid": bob.keyid}},
                                 "rules": [{"devices": ["*"], "threshold": 2}]})
    sign_policy(root / "trust", alice, TrustStore(root / "trust").snapshot())
    local = Checkpoint.for_site(root).local
    with_policy = TrustStore(root / "trust", local=local).snapshot()
    for n in names:  # bring every baseline under the policy: alice and bob approve
        anchored.approve(n, alice, with_policy)
        anchored.approve(n, bob, with_policy)
    c = _best(lambda: anchored.latest_many(names, TrustStore(root / "trust",
                                                             local=local).snapshot()),
              args.rounds)
    bad = [d for d, v in anchored.latest_many(names, with_policy).items()
           if not hasattr(v, "manifest")]
    assert not bad, bad[:3]
    print(f"{args.devices} devices, best of {args.rounds}")
    print(f"latest_many  (a) head file only      {a * 1000:8.1f} ms")
    print(f"             (b) signed checkpoint   {b * 1000:8.1f} ms   b/a {b / a:.2f}")
    print(f"             (c) + policy, 2 approvals {c * 1000:6.1f} ms   c/a {c / a:.2f}")
    print(f"append       head file only {append_plain * 1000:.1f} ms, with checkpoint "
          f"{append_anchored * 1000:.1f} ms per baseline")


if __name__ == "__main__":
    main()
