"""Every --json document of the trust commands has "schema": 1 and the shape
docs/schemas/ describes (as tests/cli/test_conventions.py does for the rest)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schemas"


def _validate(name: str, doc: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    if not (SCHEMAS / "check-result.json").exists():
        pytest.skip("docs/schemas/check-result.json (the CLI conventions) is not here yet")
    registry = referencing.Registry().with_resources(
        (p.name, referencing.Resource.from_contents(json.loads(p.read_text())))
        for p in SCHEMAS.glob("*.json"))
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator(schema, registry=registry).validate(doc)


def test_trust_documents_have_their_documented_shape(run, site, hoist):
    from baselines.signing import TrustStore, generate_keypair

    bob, pub, _ = generate_keypair("bob", site.keys_dir, None)
    TrustStore(site.root / "trust").add(pub)
    assert run.capture().exit_code == 0
    assert run("policy", "init", "--root", "tester", "--threshold", "2").exit_code == 0
    assert run("policy", "sign", "--key", str(site.key)).exit_code == 0
    run.capture(reason="to approve")
    docs = [("policy-show.json", run.json("policy", "show")),
            ("checkpoint.json", run.json("checkpoint", "show")),
            ("baseline-approve.json", run.json("baseline", "approve", "vfd-hoist")),
            ("baseline-approve.json", run.json("baseline", "approve", "vfd-hoist", "--key",
                                               str(bob), "--yes")),
            ("checkpoint.json", run.json("checkpoint", "sign"))]
    run.capture(reason="to reject")
    docs.append(("baseline-reject.json", run.json("baseline", "reject", "vfd-hoist", "--reason",
                                                  "no")))
    for name, (code, doc) in docs:
        assert code == 0 and doc["schema"] == 1, (name, doc)
        _validate(name, doc)
