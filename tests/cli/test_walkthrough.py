"""The README's walk-through, run as written.

The commands come from README.md itself (the ``sh`` block after the marker
``<!-- walkthrough -->``), so the text cannot drift from the tool: a step that
stops working, or a new prompt nobody mentions, fails here.  Everything runs in
a fresh bash in a temporary folder with its own HOME; step 2 ("in a second
terminal") runs in the background, on ports the OS chooses, and is stopped at
the end.  Each step's comment says which exit code its commands give
("exit code 1"); every other command must exit 0.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


from simulators.plant import Plant

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- walkthrough -->"
SECOND_TERMINAL = "plc-integrity sim start"


@dataclass(frozen=True)
class Step:
    command: str          # one shell command (a here-document included)
    expect: int           # its exit code, as the step's comment states
    background: bool      # "in a second terminal"


def walkthrough_steps(text: str) -> list[Step]:
    block = text.split(MARKER, 1)[1].split("```sh\n", 1)[1].split("\n```", 1)[0]
    steps: list[Step] = []
    expect = 0
    lines = iter(block.splitlines())
    for line in lines:
        if re.match(r"#\s*\d+\.", line):       # a new numbered step
            expect = 0
        if line.startswith("#"):
            found = re.search(r"exit code (\d+)", line, re.IGNORECASE)
            if found:
                expect = int(found.group(1))
            continue
        if not line.strip():
            continue
        command = line
        heredoc = re.search(r"<<'?(\w+)'?\s*$", line)
        if heredoc:
            for more in lines:
                command += "\n" + more
                if more == heredoc.group(1):
                    break
        steps.append(Step(command, expect, line.startswith(SECOND_TERMINAL)))
    return steps


def _venv_in(folder: Path) -> None:
    """``. .venv/bin/activate`` in ``folder`` activates the interpreter running the tests."""
    if (Path(sys.prefix) / "bin" / "activate").is_file():
        (folder / ".venv").symlink_to(sys.prefix)
        return
    bin_dir = folder / ".venv" / "bin"          # tests run outside a venv: the same effect
    bin_dir.mkdir(parents=True)
    (bin_dir / "activate").write_text(f'export PATH="{Path(sys.executable).parent}:$PATH"\n')


def _script(steps: list[Step]) -> str:
    out = ["cd \"$(dirname \"$0\")\""]
    for i, step in enumerate(steps):
        if step.background:
            # The second terminal: its own shell, which activates the venv itself.
            sim_sh = f"sim{i}.sh"
            out.append(f"cat > {sim_sh} <<'__SIM__'\n. .venv/bin/activate\nexec {step.command}\n"
                       "__SIM__")
            out.append(f"env -u PLC_INTEGRITY_SITE bash {sim_sh} > out.{i} 2> err.{i} &")
            out.append("echo $! > sim.pid")
            out.append(f"for _ in $(seq 1200); do grep -q '^ready' out.{i} && break; "
                       f"kill -0 $! 2>/dev/null || break; sleep 0.1; done")
            out.append(f"grep -q '^ready' out.{i}; echo $? > rc.{i}")
        else:
            out.append(f"{{\n{step.command}\n}} > out.{i} 2> err.{i}; echo $? > rc.{i}")
    return "\n".join(out) + "\n"


def _stop(pid: int) -> None:
    """SIGTERM the plant, and wait until it is gone (it is not our child: poll)."""
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(300):
            time.sleep(0.1)
            os.kill(pid, 0)
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_the_walkthrough_parses() -> None:
    steps = walkthrough_steps(README.read_text(encoding="utf-8"))
    assert steps[0].command == ". .venv/bin/activate"
    assert [s.background for s in steps].count(True) == 1
    assert {s.expect for s in steps} == {0, 1}


def test_the_walkthrough_runs_as_written(tmp_path: Path) -> None:
    steps = walkthrough_steps(README.read_text(encoding="utf-8"))
    work = tmp_path / "checkout"
    work.mkdir()
    _venv_in(work)
    (work / "walkthrough.sh").write_text(_script(steps), encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PLC_INTEGRITY", "VIRTUAL_ENV", "PYTHON"))}
    env["HOME"] = str(tmp_path / "home")
    (tmp_path / "home").mkdir()
    try:
        subprocess.run(["bash", str(work / "walkthrough.sh")], env=env, stdin=subprocess.DEVNULL,
                       timeout=240, check=True)
    finally:
        pid_file = work / "sim.pid"
        if pid_file.exists():
            _stop(int(pid_file.read_text()))

    def out(i: int) -> str:
        return (work / f"out.{i}").read_text(encoding="utf-8")

    failures = []
    for i, step in enumerate(steps):
        rc = int((work / f"rc.{i}").read_text())
        if rc != step.expect:
            failures.append(f"`{step.command}` exited {rc}, the README says {step.expect}\n"
                            f"stdout: {out(i)}\nstderr: {(work / f'err.{i}').read_text()}")
    assert not failures, "\n\n".join(failures)

    index = {s.command: i for i, s in enumerate(steps)}
    assert "ready" in out(index[next(s.command for s in steps if s.background)])
    diff_text = out(index["plc-integrity diff vfd-hoist"])
    assert "holding[22]" in diff_text and "2250" in diff_text
    diff_doc = json.loads(out(next(i for s, i in index.items() if s.startswith(
        "plc-integrity diff vfd-hoist --json"))))
    assert diff_doc["schema"] == 1 and diff_doc["exit_code"] == 1
    sweep = json.loads(out(index["plc-integrity sweep --tag crane-3 --json"]))
    plant_size = len(Plant("crane").simulators)
    assert sweep["exit_code"] == 0 and len(sweep["results"]) == plant_size

    # Restoring is planned before step 8 approves the attacker's value: the register, both ways.
    assert "write  holding[22]: 2250 -> 1500" in out(index["plc-integrity restore plan vfd-hoist"])
    assert "configuration ok" in out(index["plc-integrity config check"])
    assert "all intact" in out(index["plc-integrity store check"])
    verified = out(index["plc-integrity backup verify crane.plcbak --trust site/trust"])
    assert f"{plant_size} devices" in verified and "trust folder site/trust" in verified
    assert "OK: the bundle is complete and verifies" in verified
    # The drill names exactly what the backup lacks: plc-trolley's protected FC 20 among it.
    drill = out(index["plc-integrity restore drill --all"])
    assert "vfd-hoist: RESTORABLE" in drill and "plc-gantry: RESTORABLE" in drill
    trolley = drill.split("plc-trolley: NOT RESTORABLE", 1)[1].split("\nvfd-", 1)[0]
    assert "missing: FC 20 (Limits): know-how protected" in trolley
    assert "plc-hoist: NOT RESTORABLE" in drill and "missing: DB 20: kept as `structure`" in drill
    events = out(index["plc-integrity events"])
    assert "store-check" in events and any(
        "restore-drill" in line and "plc-trolley: NOT RESTORABLE" in line
        for line in events.splitlines()), events
