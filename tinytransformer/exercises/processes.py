"""The processes of a graded notebook: their limits, and ending every one of them.

    harden()                      this process: not dumpable (another process of the same user
                                  cannot ptrace it or read its memory) and a subreaper (a
                                  process its descendants orphan becomes its child, so a daemon
                                  that double-forks and calls setsid is still found)
    limit(memory, file_size)      RLIMIT_AS and RLIMIT_FSIZE (bytes) for this process and its
                                  children; no core files
    end_all(sessions, token, ...) end every process of a notebook: those in its sessions, those
                                  descended from its root, those whose environment holds the
                                  run's token, and orphans handed to this process; stopped
                                  first, then killed, until none is left

All of it where the OS offers it: prctl and /proc are Linux's; elsewhere harden() does nothing
and end_all() falls back to killing the sessions' process groups. Without a separate user or a
container this cannot stop a notebook from signalling the grader itself (the README's teacher
section says how to add one).
"""

import ctypes
import os
import resource
import signal
import sys
import time

LINUX = sys.platform.startswith("linux")
PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 4, 36


def harden():
    """Make this process not dumpable and a subreaper (Linux; nothing elsewhere)."""
    if not LINUX:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def limit(memory=None, file_size=None):
    """Cap this process's address space and the size of any file it writes (bytes; None leaves
    a limit as it is), for it and every process it starts."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    for which, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_FSIZE, file_size)):
        if value is not None:
            hard = resource.getrlimit(which)[1]
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (value, hard))


def table(zombies=False):
    """pid -> (parent pid, session id) for every live process /proc shows (zombies, which
    cannot be killed and wait only for their parent, only when asked; {} without /proc)."""
    out = {}
    if not os.path.isdir("/proc"):
        return out
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue  # ended meanwhile
        fields = stat[stat.rfind(")") + 2 :].split()  # state ppid pgrp session ...
        if zombies or fields[0] != "Z":
            out[int(name)] = (int(fields[1]), int(fields[3]))
    return out


def has_token(pid, token):
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return token.encode() in f.read()
    except OSError:  # ended, or another user's
        return False


def descendants(processes, roots):
    """The pids below `roots` in the parent tree of `processes`."""
    children = {}
    for pid, (ppid, _) in processes.items():
        children.setdefault(ppid, []).append(pid)
    found, stack = set(), list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def strays(sessions, token, roots=(), adopted_since=None, keep=(), spare=()):
    """The processes of a notebook (see the module docstring), but for this one, those in
    `keep`, and those in `spare` with their descendants (read from the same table, so a child
    one of them forks meanwhile is spared too). adopted_since: this process's children before
    the notebook started; any other child of this process is an orphan of the notebook's (this
    process being a subreaper)."""
    me = os.getpid()
    processes = table()
    found = {pid for pid, (_, sid) in processes.items() if sid in sessions}
    found |= descendants(processes, roots)
    if adopted_since is not None:
        found |= {pid for pid, (ppid, _) in processes.items() if ppid == me} - set(adopted_since)
    if token:
        found |= {pid for pid in processes if pid != me and has_token(pid, token)}
    return found - set(keep) - set(spare) - descendants(processes, spare) - {me}


def children():
    """This process's children, now."""
    me = os.getpid()
    return {pid for pid, (ppid, _) in table().items() if ppid == me}


def end(pids):
    """Stop every process of `pids` (so none forks while the others are killed), then kill
    them, and reap those that are this process's children."""
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except OSError:  # not our child
            pass


def end_all(sessions, token, roots=(), adopted_since=None, keep=(), spare=(), rounds=50):
    """End every process of a notebook (strays()), repeating until a pass finds none -> the
    number of processes ended."""
    if not LINUX:
        for session in sessions:
            try:
                os.killpg(session, signal.SIGKILL)
            except OSError:
                pass
        return 0
    total = 0
    for _ in range(rounds):
        found = strays(sessions, token, roots, adopted_since, keep, spare)
        if not found:
            break
        end(found)
        total += len(found)
        time.sleep(0.02)
    reap(adopted_since)
    return total


def reap(adopted_since):
    """Collect the exit status of this process's ended children, but for those it had before
    (adopted_since; None: all), so that no zombie of a notebook's is left behind."""
    me = os.getpid()
    for pid, (ppid, _) in table(zombies=True).items():
        if ppid == me and (adopted_since is None or pid not in adopted_since):
            try:
                os.waitpid(pid, os.WNOHANG)
            except OSError:
                pass
