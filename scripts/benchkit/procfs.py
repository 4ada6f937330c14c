"""What /proc says about a process: CPU, memory, sockets."""

import os
import resource

TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def cpu_seconds(pid, children=False):
    """User+system CPU of a process (with its waited-for children's when asked)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime is field 14, stime 15, cutime 16, cstime 17.
    total = int(fields[11]) + int(fields[12])
    if children:
        total += int(fields[13]) + int(fields[14])
    return total / TICKS


def children_cpu():
    """User+system CPU of this script's reaped children: read around a `load` run, the load
    generator's (the servers it runs beside are reaped only when they stop)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def rss_bytes(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def postgres_cpu(postmaster):
    """The postmaster's CPU, its exited backends' (cutime) and every live backend's."""
    return sum(postgres_cpu_by_process(postmaster).values())


def postgres_cpu_by_process(postmaster):
    """Each live backend's CPU by pid, and under "postmaster" the postmaster's own with its exited
    backends' (cutime)."""
    spent = {"postmaster": cpu_seconds(postmaster, children=True)}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == postmaster:
                spent[int(entry)] = (int(fields[11]) + int(fields[12])) / TICKS
        except (FileNotFoundError, ProcessLookupError, IndexError):
            pass
    return spent


def socket_count(pid):
    try:
        return sum(1 for fd in os.listdir(f"/proc/{pid}/fd") if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"))
    except FileNotFoundError:
        return 0
