"""`store prune` on the command line and `[store] keep` in site.toml."""

from __future__ import annotations



def test_store_prune_cli_and_the_keep_setting(run, site) -> None:
    r = run("store", "prune")
    assert r.exit_code == 2 and "--keep" in r.output
    r = run("store", "prune", "--keep", "soon")
    assert r.exit_code == 2 and "--keep" in r.output
    assert run("store", "prune", "--keep", "90d").exit_code == 0
    toml = site.root / "site.toml"
    toml.write_text(toml.read_text().replace('check = "weekly"', 'check = "weekly"\nkeep = "30d"'))
    code, doc = run.json("store", "prune", "--dry-run")
    assert (code, doc["keep_seconds"], doc["dry_run"]) == (0, 30 * 86400, True)
    toml.write_text(toml.read_text().replace('keep = "30d"', 'keep = 30'))
    r = run("store", "prune")
    assert r.exit_code == 2 and "keep" in r.output


def test_the_daemon_prunes_once_a_day_when_store_keep_is_set(tmp_path) -> None:
    from datetime import datetime, timedelta, timezone

    from baselines.signing import TrustStore
    from baselines.store import Store
    from integrity.evidence import PRUNE_JOB, EvidenceWatch

    now = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
    with Store.open(tmp_path / "s.db") as store:
        (tmp_path / "trust").mkdir()
        watch = EvidenceWatch(store, TrustStore(tmp_path / "trust"), None, keep=timedelta(days=90))
        watch.step(now)
        assert store.due(PRUNE_JOB) == now + timedelta(days=1)
        watch.step(now + timedelta(hours=1))  # not again the same day
        assert [e["kind"] for e in store.events(kind="prune")] == ["prune"]
        watch.step(now + timedelta(days=1))
        assert [e["kind"] for e in store.events(kind="prune")] == ["prune", "prune"]
