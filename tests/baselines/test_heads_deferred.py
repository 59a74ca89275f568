"""One rewrite of the rollback anchor per capture command, not one per device."""

from __future__ import annotations

from pathlib import Path

from baselines.heads import Head, HeadFile


def test_heads_advanced_in_a_deferred_block_are_written_once_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "state" / "heads.json"
    heads = HeadFile(path)
    heads.advance("old", Head(3, "a" * 64))
    written = path.stat().st_ino
    with heads.deferred():
        for i in range(200):
            heads.advance(f"d{i}", Head(1, f"{i:064x}"))
        heads.advance("old", Head(2, "b" * 64))  # never backwards
        assert path.stat().st_ino == written  # nothing written yet...
        assert heads.read()["d7"] == Head(1, f"{7:064x}")  # ...but reads see the pending heads
    assert path.stat().st_ino != written
    again = HeadFile(path).read()
    assert len(again) == 201 and again["old"] == Head(3, "a" * 64)
    assert again["d199"] == Head(1, f"{199:064x}")
