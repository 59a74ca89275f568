"""The folders are the architecture (STYLE rule 1), checked by reading every import.

Bottom layer: integrity.model, errors, canonical and clock.  They import nothing
of ours but each other.  drivers/, baselines/ and simulators/ stand on it and
import nothing else of ours: a driver knows no store, a store no protocol, and a
simulator does not share the driver's understanding of the bytes.  Everything
in integrity/ above the bottom layer may use all three.

Every import counts, also one inside a function or under TYPE_CHECKING.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("integrity", "drivers", "baselines", "simulators")
BOTTOM = {"integrity.model", "integrity.errors", "integrity.canonical", "integrity.clock"}


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, root: Path = ROOT) -> set[str]:
    """Our modules that ``path`` imports (``from integrity import canonical`` -> integrity.canonical)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                where = root / Path(*candidate.split("."))
                is_module = where.with_suffix(".py").is_file() or where.is_dir()
                found.add(candidate if is_module else node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import; this project imports absolutely")
    return {name for name in found if name.split(".")[0] in OURS}


def sources(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "migrations" not in p.parts)


def allowed_for(module: str) -> tuple[str, ...]:
    """The packages and modules that ``module`` may import from."""
    if module in BOTTOM:
        return tuple(BOTTOM)
    top = module.split(".")[0]
    if top in ("drivers", "baselines", "simulators"):
        return (top, *BOTTOM)
    return OURS


def violations(paths: list[Path], root: Path = ROOT) -> list[str]:
    bad = []
    for path in paths:
        module = module_name(path, root)
        allowed = allowed_for(module)
        for name in sorted(imports_of(path, root)):
            if not any(name == a or name.startswith(a + ".") for a in allowed):
                bad.append(f"{module} imports {name}")
    return bad


@pytest.mark.parametrize("package", ["drivers", "baselines", "simulators"])
def test_lower_folders_use_only_themselves_and_the_bottom_layer(package):
    paths = sources(package)
    assert paths
    assert violations(paths) == []


def test_bottom_layer_imports_nothing_of_ours_but_itself():
    paths = [ROOT / Path(*m.split(".")).with_suffix(".py") for m in sorted(BOTTOM)]
    assert all(p.is_file() for p in paths)
    assert violations(paths) == []


def test_utcnow_is_defined_once():
    defined = [f"{module_name(p)}" for package in OURS for p in sources(package)
               for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
               if isinstance(node, ast.FunctionDef) and node.name.lstrip("_") == "utcnow"]
    assert defined == ["integrity.clock"]


def test_the_check_sees_a_violation(tmp_path):
    # The rule is only as good as its parser: upward imports, even inside a
    # function, are caught.
    (tmp_path / "drivers").mkdir()
    (tmp_path / "integrity").mkdir()
    (tmp_path / "integrity" / "check.py").write_text("")
    bad = tmp_path / "drivers" / "x.py"
    bad.write_text("from integrity.model import Device\n"
                   "def f():\n    from integrity import check\n    import baselines.store\n")
    assert violations([bad], tmp_path) == ["drivers.x imports baselines.store",
                                           "drivers.x imports integrity.check"]
