"""A command's own resource usage, through a small launcher (a helper for the benchmarks).

On Linux a process's peak RSS (ru_maxrss) starts from the peak of the memory it
replaces at exec, and subprocess starts a child with vfork, so that memory is the
parent's: a command started by a benchmark that holds a 10,000-device inventory
or has just run the bare libraries reports at least the benchmark's own peak.
(Measured: a child that runs ``pass`` reports 14 MiB from a small parent, 214 MiB
from one that once held 200 MiB, whatever it has freed since.)  So each measured
command is started by a fresh, small interpreter (~10 MiB) that waits for it and
hands its rusage back on a pipe.  CPU and context switches are the command's own
either way; the launcher's start adds a few hundredths of a second of wall time
to every command alike.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

_LAUNCHER = (
    "import json, os, subprocess, sys\n"
    "fd = int(sys.argv[1])\n"
    "proc = subprocess.Popen(sys.argv[2:])\n"
    "_, status, u = os.wait4(proc.pid, 0)\n"
    "os.write(fd, json.dumps({'exit': os.waitstatus_to_exitcode(status),\n"
    "    'utime': u.ru_utime, 'stime': u.ru_stime, 'maxrss_kib': u.ru_maxrss,\n"
    "    'switches': u.ru_nvcsw + u.ru_nivcsw}).encode())\n"
    "os.close(fd)\n"
    "sys.exit(0)\n")


class Measured:
    """``Measured(cmd).start(**popen_args)`` runs ``cmd`` under the launcher (its
    stdin, stdout and stderr are the command's); once that process has ended,
    ``usage()`` is the command's own: exit, utime, stime, maxrss_kib, switches."""

    def __init__(self, cmd: list[str]) -> None:
        self.cmd = cmd
        self._read, self._write = os.pipe()

    def start(self, **popen_args: Any) -> "subprocess.Popen[bytes]":
        try:
            return subprocess.Popen([sys.executable, "-S", "-c", _LAUNCHER, str(self._write),
                                     *self.cmd], pass_fds=(self._write,), **popen_args)
        finally:
            os.close(self._write)

    def usage(self) -> dict[str, Any]:
        with os.fdopen(self._read, "rb") as pipe:
            data = pipe.read()
        if not data:
            raise SystemExit(f"the launcher of {' '.join(self.cmd[:4])}... reported nothing")
        return json.loads(data)  # type: ignore[no-any-return]
