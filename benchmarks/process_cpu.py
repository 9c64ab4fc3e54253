"""CPU time of processes and threads, read from ``/proc`` (user + system, in seconds)."""

from __future__ import annotations

import os

TICKS = os.sysconf("SC_CLK_TCK")


def stat_cpu_s(stat_path: str) -> float:
    """CPU time in a ``/proc/<pid>/stat`` or ``/proc/<pid>/task/<tid>/stat`` file."""
    with open(stat_path) as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def cpu_s(pid: int) -> float:
    """CPU time a process has used so far, every thread's (those that ended too)."""
    return stat_cpu_s(f"/proc/{pid}/stat")
