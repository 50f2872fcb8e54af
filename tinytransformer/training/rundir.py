"""The run directory (`--out`): what a run writes there, and the rules that keep it from losing
anyone's work.

- A new run refuses a directory that already holds a run (a checkpoint or metrics.jsonl) unless
  it continues it (--resume) or is told to replace it (--overwrite, which removes the old run's
  files only once everything else has been checked).
- One writer at a time: a lock file names the writer (its pid and start time) and is created
  whole, atomically; a lock left by a process that no longer runs is taken over, with a note.
- Temporary files of an interrupted atomic write (files.write_atomic) are removed on the next
  start, once their writer is gone.
- Every OS fault (a file where a directory should be, a read-only or full disk, no permission)
  becomes one RunDirError line naming the flag and the path.
"""

import contextlib
import os
import re
import secrets
from pathlib import Path

from tinytransformer.files import describe_os_error, pid_alive
from tinytransformer.training.loop import TrainingError

LOCK = ".lock"
_PARTIAL = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")  # files.write_atomic's temporary names


class RunDirError(ValueError):
    """The run directory cannot be used as asked; the message names the flag and the path."""


def check_folder_path(path, flag):
    """A folder given by the user is a path that names something it can be: not empty, not a
    symbolic link to nothing or in a loop (mkdir would say only "File exists")."""
    if str(path) == "":
        raise RunDirError(f"{flag} '': expected a folder, got an empty path")
    path = Path(path)
    if path.is_symlink():
        try:
            path.stat()
        except FileNotFoundError:
            raise RunDirError(
                f"{flag} {path}: a symbolic link to {os.readlink(path)}, which does not exist"
            ) from None
        except OSError:  # ELOOP
            raise RunDirError(f"{flag} {path}: a symbolic link that loops back on itself") from None


def prepare_run_dir(out, files, resume=False, overwrite=False, flag="--out", resumable=True):
    """Check that `out` can take a run that writes `files` (names inside it) -> the existing
    ones that --overwrite will replace. Writes nothing: call it before any work starts.
    resumable: whether the command has --resume to offer (train does, finetune does not)."""
    check_folder_path(out, flag)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RunDirError(f"{flag} {out}: expected a directory, got a file")
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise RunDirError(f"{flag} {out}: {parent} is a file, not a directory")
    if resume and overwrite:
        raise RunDirError("--resume, --overwrite: expected at most one of them, got both")
    present = [name for name in files if (out / name).exists()]
    if present and not resume and not overwrite:
        listed = ", ".join(present)
        ways = "continue it with --resume, or " if resumable else f"use another {flag}, or "
        raise RunDirError(
            f"{flag} {out} already holds a run ({listed}); {ways}replace it with --overwrite"
        )
    for name in files:
        if (out / name).is_dir():
            raise RunDirError(f"{flag} {out}: {out / name} is a directory, expected a file")
    return present if overwrite else []


def make_run_dir(out, flag="--out"):
    """Create `out` (and its parents) and make sure a file can be written in it."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise RunDirError(describe_os_error(e, f"{flag} {out}")) from None
    return out


def remove_run_files(out, names):
    """--overwrite: remove the old run's files (after every check has passed)."""
    for name in names:
        (Path(out) / name).unlink(missing_ok=True)


def process_start(pid):
    """When process pid started (clock ticks since boot, from /proc/PID/stat), or None where
    that cannot be read (not Linux, or no such process): with the pid, it names one process,
    since the system may give a dead writer's pid to a new program."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rsplit(")", 1)[1].split()[19])  # field 22; the name, field 2, is in ()
    except (OSError, ValueError, IndexError):
        return None


def clean_partial_writes(out):
    """Remove the temporary files of interrupted atomic writes whose writer is gone -> names."""
    removed = []
    for path in Path(out).iterdir():
        m = _PARTIAL.match(path.name)
        if m and not pid_alive(int(m.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


class RunLock:
    """`with RunLock(out, log):` -- this process is the run directory's one writer.

    The lock is a file naming its writer: "pid start", the process id and when that process
    started (process_start). It is written whole under a temporary name and then linked into
    place, which fails if a lock is there already, so no other process ever sees an empty or
    half-written lock. A lock whose writer no longer runs (no process with its pid, or one that
    started at another time: a new program the pid was given to) was left by a killed run: it
    is taken over, and `log` says so. Every refusal names the lock file and what to do.
    """

    def __init__(self, out, log=None, flag="--out"):
        self.path = Path(out) / LOCK
        self.log = log or (lambda message: None)
        self.flag = flag
        self.me = f"{os.getpid()} {process_start(os.getpid())}"

    def __enter__(self):
        if self.path.is_dir():
            raise RunDirError(
                f"{self.flag} {self.path.parent}: its lock file {self.path} is a directory; "
                "remove it, then start again"
            )
        for _ in range(3):
            if self._create():
                return self
            holder = self._holder()
            if holder is not None:
                raise RunDirError(
                    f"{self.flag} {self.path.parent}: another run (pid {holder}) is writing "
                    f"there (its lock is {self.path}); wait for it to finish, or use another "
                    f"{self.flag}"
                )
            self.log(f"note: taking over the lock {self.path} of a run that is gone")
            self.path.unlink(missing_ok=True)
        raise RunDirError(
            f"{self.flag} {self.path.parent}: could not take the lock {self.path}; if no run is "
            "writing there, delete it"
        )

    def _create(self):
        """Write the lock whole, then link it into place -> whether it was ours to take."""
        tmp = self.path.with_name(f".{LOCK}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            tmp.write_text(self.me + "\n")
            try:
                os.link(tmp, self.path)  # atomic, and fails if a lock is there
            except FileExistsError:
                return False
            return True
        except OSError as e:
            raise RunDirError(describe_os_error(e, f"{self.flag} {self.path.parent}")) from None
        finally:
            tmp.unlink(missing_ok=True)

    def _holder(self):
        """The pid of the lock's writer if that process still runs, else None (a lock left by
        a killed run, a pid now given to another program, or a file that is no lock)."""
        try:
            words = self.path.read_text().split()
        except OSError:
            return None
        try:
            pid = int(words[0])
            start = int(words[1]) if len(words) > 1 and words[1] != "None" else None
        except (ValueError, IndexError):
            return None  # not a lock this package writes
        if not pid_alive(pid):
            return None
        if start is not None and process_start(pid) not in (None, start):
            return None  # the pid was given to a program started later
        return pid

    def __exit__(self, *exc):
        try:
            if self.path.read_text().strip() == self.me:
                self.path.unlink(missing_ok=True)
        except OSError:
            pass


@contextlib.contextmanager
def writing_run(out, replaced, log):
    """`with writing_run(out, replaced, log) as out:` the run's writes, with --out made, locked
    and cleaned of interrupted writes, and the files of the run it replaces (--overwrite)
    removed; every part checked before this. An OS fault inside is one TrainingError line."""
    out = make_run_dir(out)
    with RunLock(out, log):
        for name in clean_partial_writes(out):
            log(f"note: removed {out / name}, left by an interrupted write")
        remove_run_files(out, replaced)
        try:
            yield out
        except OSError as e:  # the disk filled up, the directory became read-only, ...
            what = f"could not write {e.filename}" if e.filename else "could not write"
            raise TrainingError(describe_os_error(e, f"--out {out}: {what}")) from None
