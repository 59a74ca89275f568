"""A devices file is parsed in pieces (a hundred [[devices]] tables at a time) so a
10,000-device inventory is never held parsed whole.  The pieces must give
exactly what the whole file gives, and every file they cannot take must still
be read whole, with the whole-file errors: checked here against the standard
library's own TOML parser."""

from __future__ import annotations

import random
import re
import tomllib
from pathlib import Path

import pytest

from integrity.errors import ConfigError
from integrity.inventory import PIECE, _devices_file_tables, load_site

N = 3 * PIECE + 17  # several pieces and a short last one


def drive(i: int, header: str = "[[devices]]", nl: str = "\n", extra: str = "") -> str:
    return nl.join([header, f'name = "vfd-{i:04d}"', 'protocol = "modbus"', 'host = "127.0.0.1"',
                    f"port = {1000 + i}", 'holding = ["0-9"]', extra, ""]) + nl


def tables(path: Path) -> list:
    return list(_devices_file_tables(path))


def whole(path: Path) -> list:
    return tomllib.loads(path.read_text(encoding="utf-8"))["devices"]


HEADERS = ["[[devices]]", "  [[devices]]", "[[ devices ]]", "[[devices]]  # next drive",
           "\t[[\tdevices\t]]\t#", "[[devices]]\t"]
EXTRAS = ["", "# a comment\n", "[devices.labels]\nbay = \"3\"\n",
          'labels = { bay = "4" }\n',
          # A header inside multi-line strings: a cut there leaves a piece unterminated.
          'labels = { note = """\n[[devices]]\n""" }\n',
          "labels = { note = '''\n[[devices]]\n''' }\n",
          "tags = [\n  \"a\",\n  \"b\",\n]\n"]


@pytest.mark.parametrize("seed", range(24))
def test_pieces_give_what_the_whole_file_gives(tmp_path, seed):
    rnd = random.Random(seed)
    nl = rnd.choice(["\n", "\r\n"])
    text = rnd.choice(["", "# the east quay\n\n", "\n\n# a\n# b\n"]).replace("\n", nl)
    for i in range(N):
        text += drive(i, rnd.choice(HEADERS), nl, rnd.choice(EXTRAS).replace("\n", nl))
    path = tmp_path / "a.toml"
    path.write_bytes(text.encode("utf-8"))
    assert tables(path) == whole(path)
    assert len(tables(path)) == N


def test_a_header_in_a_string_at_every_cut_falls_back_to_the_whole_file(tmp_path):
    # Every table carries a false header, so cuts land inside strings too.
    text = "".join(drive(i, extra='labels = { note = """\n[[devices]]\n""" }') for i in range(N))
    path = tmp_path / "a.toml"
    path.write_text(text)
    assert tables(path) == whole(path)
    assert all(t["labels"]["note"] == "[[devices]]\n" for t in tables(path))


def test_sub_tables_and_arrays_of_tables_stay_with_their_device(tmp_path):
    text = "".join(drive(i) + f"[devices.labels]\nrow = \"{i}\"\n[[devices.extra]]\nk = {i}\n"
                   for i in range(N))
    path = tmp_path / "a.toml"
    path.write_text(text)
    got = tables(path)
    assert got == whole(path)
    assert [t["labels"]["row"] for t in got] == [str(i) for i in range(N)]


def site_with(tmp_path: Path, text: str) -> Path:
    root = tmp_path / "site"
    (root / "devices").mkdir(parents=True)
    (root / "site.toml").write_text("[settings]\n")
    (root / "devices" / "a.toml").write_text(text)
    return root


def test_a_big_file_loads_every_device_in_order(tmp_path):
    root = site_with(tmp_path, "# quay\n" + "".join(drive(i) for i in range(N)))
    assert [d.name for d in load_site(root).devices] == [f"vfd-{i:04d}" for i in range(N)]


@pytest.mark.parametrize("where", [0, N // 2, N - 1])
def test_a_syntax_error_anywhere_is_the_whole_files_error(tmp_path, where):
    parts = [drive(i) for i in range(N)]
    parts[where] = parts[where].replace("port = ", "port = = ")
    text = "".join(parts)
    root = site_with(tmp_path, text)
    with pytest.raises(tomllib.TOMLDecodeError) as reference:
        tomllib.loads(text)
    line = re.search(r"line (\d+)", str(reference.value)).group(1)
    with pytest.raises(ConfigError) as err:
        load_site(root)
    assert "not valid TOML" in str(err.value) and f"line {line}," in str(err.value)


@pytest.mark.parametrize("text,field", [
    pytest.param("colour = 1\n" + "".join(drive(i) for i in range(N)), "colour", id="key-before"),
    pytest.param("".join(drive(i) for i in range(N)) + "[quay]\nx = 1\n", "quay", id="table-after"),
    pytest.param("".join(drive(i) for i in range(PIECE + 1)) + "[settings]\n"
                 + "".join(drive(i) for i in range(PIECE + 1, N)), "settings", id="table-between"),
])
def test_anything_but_devices_tables_is_the_usual_error(tmp_path, text, field):
    with pytest.raises(ConfigError) as err:
        load_site(site_with(tmp_path, text))
    assert "holds only [[devices]] tables" in str(err.value) and field in str(err.value)


def test_a_devices_array_written_inline_before_the_tables_is_the_whole_files_error(tmp_path):
    text = "devices = []\n" + "".join(drive(i) for i in range(N))
    with pytest.raises(tomllib.TOMLDecodeError):
        tomllib.loads(text)
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_site(site_with(tmp_path, text))


def test_a_duplicate_name_in_a_later_piece_is_caught(tmp_path):
    text = "".join(drive(i) for i in range(N)) + drive(3)
    with pytest.raises(ConfigError, match="already used"):
        load_site(site_with(tmp_path, text))
