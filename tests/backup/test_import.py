"""Issue 10 acceptance: import into another site, unchanged; never a rollback."""

from __future__ import annotations

import shutil

from support.site import Cli, Inventory, make_site


def _fresh_site(tmp_path, crane, *, trust_from=None):
    site = make_site(tmp_path)
    if trust_from is not None:
        for pub in (trust_from / "trust").glob("*.pub"):
            shutil.copy(pub, site.root / "trust" / f"origin-{pub.name}")
    Inventory(site.root).write(*(Inventory.table(sim) for sim in crane))
    site.cli = Cli(site)
    return site


def _ids(cli, device):
    code, doc = cli.json("baseline", "history", device)
    assert code == 0, doc
    return [b["id"] for b in doc["baselines"]]


def test_import_into_a_fresh_site_keeps_ids_and_verifies_live(crane, crane_site, bundle, tmp_path):
    dr = _fresh_site(tmp_path, crane, trust_from=crane_site.root)
    code, doc = dr.cli.json("backup", "import", str(bundle))
    assert code == 0 and doc["schema"] == 1 and doc["imported"], doc
    assert {d["device"]: d["outcome"] for d in doc["devices"]} == dict.fromkeys(
        ["plc-gantry", "plc-hoist", "plc-trolley", "vfd-gantry", "vfd-hoist", "vfd-trolley"],
        "imported")
    for sim in crane:
        assert _ids(dr.cli, sim.name) == _ids(crane_site.cli, sim.name)
    r = dr.cli("verify", "--all")
    assert r.exit_code == 0, r.output
    # The head file now anchors the imported histories against a rollback.
    assert "vfd-hoist" in (dr.root / "state" / "heads.json").read_text()
    # Importing again changes nothing.
    code, doc = dr.cli.json("backup", "import", str(bundle))
    assert code == 0 and {d["outcome"] for d in doc["devices"]} == {"up-to-date"}


def test_import_signs_the_receiving_sites_checkpoint(crane, crane_site, bundle, tmp_path):
    """Import anchors like an append: the receiving site's own checkpoint key signs
    the imported heads as one new version, and every later read holds them to it."""
    from baselines.checkpoint import read_checkpoint

    dr = _fresh_site(tmp_path, crane, trust_from=crane_site.root)
    path = dr.root / "state" / "checkpoint.json"
    before = read_checkpoint(path)
    assert before is not None and before.heads == {}  # init signed an empty first version
    assert dr.cli("backup", "import", str(bundle)).exit_code == 0
    after = read_checkpoint(path)
    assert after.version == before.version + 1 and after.keyid == before.keyid
    code, doc = crane_site.cli.json("backup", "list", str(bundle))
    assert {d: (e.sequence, e.id) for d, e in after.heads.items()} == {
        d: (dev["head"]["sequence"], dev["head"]["id"]) for d, dev in doc["devices"].items()}
    assert dr.cli("verify", "--all").exit_code == 0
    # A rollback of the imported rows is now caught by the checkpoint, not only the head file.
    from sqlalchemy import create_engine, text
    engine = create_engine(f"sqlite:///{dr.root / 'plc-integrity.db'}")
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM baselines WHERE device = 'vfd-hoist'"))
    engine.dispose()
    r = dr.cli("verify", "vfd-hoist")
    assert r.exit_code == 5 and "checkpoint" in r.output, r.output


def test_a_site_whose_policy_pins_its_own_checkpoint_key_imports_another_sites_bundle(
        crane, crane_site, bundle, tmp_path):
    """The receiving site's policy pins ITS checkpoint key; the bundle carries the
    exporter's.  Import is not refused for that, while `backup verify --trust` of
    that folder says the checkpoint is not the one its policy names."""
    dr = _fresh_site(tmp_path, crane, trust_from=crane_site.root)
    assert dr.cli("policy", "init", "--root", "tester").exit_code == 0
    assert dr.cli("policy", "sign", "--key", str(dr.key)).exit_code == 0
    code, doc = dr.cli.json("backup", "import", str(bundle))
    assert code == 0 and doc["imported"] and doc["checkpoint"]["ok"], doc
    code, doc = dr.cli.json("backup", "verify", str(bundle), "--trust", str(dr.root / "trust"))
    assert code == 5 and doc["checkpoint"]["vouched_by"] == "the site policy"
    assert any(p["where"] == "checkpoint.json" and "not the checkpoint key the site policy" in
               p["what"] for p in doc["problems"]), doc["problems"]


def test_an_untrusted_signer_is_refused_and_nothing_is_kept(crane, bundle, tmp_path):
    dr = _fresh_site(tmp_path, crane)  # does not trust the crane site's key
    r = dr.cli("backup", "import", str(bundle))
    assert r.exit_code == 5
    assert "not in" in r.output and "nothing imported" in r.output
    code, doc = dr.cli.json("baseline", "history", "vfd-hoist")
    assert doc["baselines"] == []
    from baselines.store import Store
    with Store.open(dr.root / "plc-integrity.db") as store:
        assert store.count_blobs() == 0  # the blobs streamed in were rolled back too


def test_newer_history_is_never_rolled_back(crane, crane_site, bundle, tmp_path):
    dr = _fresh_site(tmp_path, crane, trust_from=crane_site.root)
    assert dr.cli("backup", "import", str(bundle)).exit_code == 0
    r = dr.cli.capture("vfd-hoist", reason="WO 4711 on the DR site")
    assert r.exit_code == 0, r.output
    before = _ids(dr.cli, "vfd-hoist")
    assert len(before) == 2
    code, doc = dr.cli.json("backup", "import", str(bundle))
    outcome = {d["device"]: d for d in doc["devices"]}["vfd-hoist"]
    assert code == 0 and outcome["outcome"] == "kept-newer"
    assert "not rolled back" in outcome["detail"]
    assert _ids(dr.cli, "vfd-hoist") == before
    # The newer history goes back the other way: the origin site appends #2.
    newer = tmp_path / "newer.plcbak"
    assert dr.cli("backup", "export", "vfd-hoist", "--out", str(newer)).exit_code == 0
    origin = _fresh_site(tmp_path / "origin2", crane, trust_from=dr.root)
    assert origin.cli("backup", "import", str(bundle)).exit_code == 0
    code, doc = origin.cli.json("backup", "import", str(newer))
    assert code == 0 and doc["devices"][0]["outcome"] == "imported"
    assert _ids(origin.cli, "vfd-hoist") == before


def test_diverged_history_is_refused(crane, crane_site, bundle, tmp_path):
    dr = _fresh_site(tmp_path, crane, trust_from=crane_site.root)
    assert dr.cli.capture("vfd-hoist", reason="a different first baseline").exit_code == 0
    before = _ids(dr.cli, "vfd-hoist")
    code, doc = dr.cli.json("backup", "import", str(bundle))
    outcome = {d["device"]: d for d in doc["devices"]}["vfd-hoist"]
    assert code == 5 and outcome["outcome"] == "refused" and "diverge" in outcome["detail"]
    assert _ids(dr.cli, "vfd-hoist") == before


def test_contents_of_devices_left_alone_are_not_kept(crane, crane_site, bundle, tmp_path):
    from baselines.store import Store

    dr = _fresh_site(tmp_path, crane, trust_from=crane_site.root)
    assert dr.cli.capture("vfd-hoist", reason="a different first baseline").exit_code == 0
    with Store.open(dr.root / "plc-integrity.db") as store:
        before = store.count_blobs()
    assert dr.cli("backup", "import", str(bundle)).exit_code == 5  # vfd-hoist refused
    with Store.open(dr.root / "plc-integrity.db") as store:
        after = store.count_blobs()
    code, doc = crane_site.cli.json("backup", "list", str(bundle))
    # Every blob of the four imported devices, none only vfd-hoist's refused baseline needs.
    assert before < after < before + doc["blobs"]


def test_an_older_bundle_of_this_site_is_reported_never_rolled_back(crane, crane_site, bundle,
                                                                     tmp_path):
    """A site's own older backup (same checkpoint key, older version) is said on
    import; nothing moves back."""
    from baselines.checkpoint import read_checkpoint

    dr = _fresh_site(tmp_path, crane, trust_from=crane_site.root)
    assert dr.cli("backup", "import", str(bundle)).exit_code == 0
    older = tmp_path / "older.plcbak"
    assert dr.cli("backup", "export", "vfd-hoist", "--out", str(older)).exit_code == 0
    assert dr.cli.capture("vfd-hoist", reason="WO 4712").exit_code == 0
    now = read_checkpoint(dr.root / "state" / "checkpoint.json")
    code, doc = dr.cli.json("backup", "import", str(older))
    assert code == 0 and doc["devices"][0]["outcome"] == "kept-newer", doc
    assert doc["checkpoint"]["version"] == now.version - 1
    assert f"older than version {now.version}" in doc["checkpoint_note"]
    r = dr.cli("backup", "import", str(older))
    assert r.exit_code == 0 and "note: the bundle's checkpoint is version" in r.output
    assert read_checkpoint(dr.root / "state" / "checkpoint.json").heads == now.heads
    assert dr.cli("verify", "--all").exit_code == 0
