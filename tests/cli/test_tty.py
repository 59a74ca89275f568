"""Prompts on a real terminal: keys create asks for a passphrase (twice), and
baseline capture asks for it to unlock the key.  Driven through a pseudo-terminal
so the code under test sees exactly what an engineer's shell gives it."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

CLI = [sys.executable, "-c", "from integrity.cli import main; main()"]


def _controlling_tty() -> None:
    """(In the child.)  The pty as its controlling terminal, and ^C's signal as an
    interactive shell gives it to a command: a test run started in the background
    (``cmd &`` from a script, as a CI runner may) has SIGINT ignored, a child
    inherits that across exec, and ^C would then do nothing at all."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _until_echo_off(probe: int, limit: float = 30.0) -> None:
    """Wait until the program has turned echo off on its terminal for a hidden
    prompt.  click writes the prompt first, then getpass sets the terminal with
    TCSAFLUSH, which discards input not yet read: an answer typed ahead of that
    is not an answer to the prompt."""
    deadline = time.monotonic() + limit
    while termios.tcgetattr(probe)[3] & termios.ECHO:
        assert time.monotonic() < deadline, "the prompt never turned the terminal's echo off"
        time.sleep(0.01)


def _probe(slave: int) -> int:
    """A second handle on the program's terminal, to read its settings from."""
    return os.open(os.ttyname(slave), os.O_RDWR | os.O_NOCTTY)


def run_on_tty(args: list[str], answers: list[str], timeout: float = 60.0) -> tuple[int, str]:
    """Run the CLI on a pty; answer each hidden prompt (text ending in ':', then
    echo off) with the next of ``answers``."""
    master, slave = os.openpty()
    probe = _probe(slave)
    proc = subprocess.Popen(CLI + args, stdin=slave, stdout=slave, stderr=slave,
                            preexec_fn=_controlling_tty, close_fds=True)
    os.close(slave)
    out = b""
    since_answer = b""  # only text after our last answer can be a new prompt
    pending = list(answers)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # the child closed the terminal
                    break
                if not chunk:
                    break
                out += chunk
                since_answer += chunk
                if pending and since_answer.rstrip().endswith(b":"):
                    _until_echo_off(probe)
                    os.write(master, pending.pop(0).encode() + b"\n")
                    since_answer = b""
            elif proc.poll() is not None:
                break
        try:
            return proc.wait(timeout=10), out.decode(errors="replace")
        except subprocess.TimeoutExpired:
            raise AssertionError(f"no exit; terminal showed: {out!r}") from None
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(probe)


def test_keys_create_prompts_twice_on_a_terminal_then_capture_prompts(tmp_path: Path, run, site,
                                                                     drive, inventory):
    out = tmp_path / "k"
    code, text = run_on_tty(["--site", str(site.root), "keys", "create", "frank", "--out", str(out),
                             "--trust"], ["s3cret pass", "s3cret pass"])
    assert code == 0, text
    assert "Passphrase for the new key" in text and "Repeat for confirmation" in text
    assert "s3cret" not in text  # hidden input is not echoed

    inventory.write(inventory.table(drive))
    code, text = run_on_tty(["--site", str(site.root), "baseline", "capture", "--all", "--key",
                             str(out / "frank.key"), "--reason", "tty test"], ["s3cret pass"])
    assert code == 0, text
    assert "vfd-hoist: baseline #1" in text


def test_ctrl_c_at_a_prompt_exits_130_not_1(tmp_path: Path):
    """1 means drift: an interrupted command must never look like a finding."""
    master, slave = os.openpty()
    probe = _probe(slave)
    proc = subprocess.Popen(CLI + ["keys", "create", "x", "--out", str(tmp_path / "k")],
                            stdin=slave, stdout=slave, stderr=slave,
                            preexec_fn=_controlling_tty, close_fds=True)
    os.close(slave)
    out = b""
    try:
        while b"Passphrase" not in out:
            ready, _, _ = select.select([master], [], [], 30)
            assert ready, out
            out += os.read(master, 4096)
        _until_echo_off(probe)  # as a person would: at the prompt, not ahead of it
        os.write(master, b"\x03")  # the terminal turns this into SIGINT
        assert proc.wait(timeout=30) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
        os.close(probe)
    assert not (tmp_path / "k" / "x.key").exists()
