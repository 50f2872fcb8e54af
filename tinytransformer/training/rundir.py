"""The run directory (`--out`): what a run writes there, and the rules that keep it from losing
anyone's work.

- A new run refuses a directory that already holds a run (a checkpoint or metrics.jsonl) unless
  it continues it (--resume) or is told to replace it (--overwrite, which removes the old run's
  files only once everything else has been checked).
- One writer at a time: a lock file holds the writer's pid; a lock left by a process that no
  longer exists is taken over, with a note.
- Temporary files of an interrupted atomic write (files.write_atomic) are removed on the next
  start, once their writer is gone.
- Every OS fault (a file where a directory should be, a read-only or full disk, no permission)
  becomes one RunDirError line naming the flag and the path.
"""

import contextlib
import os
import re
from pathlib import Path

from tinytransformer.files import describe_os_error
from tinytransformer.training.loop import TrainingError

LOCK = ".lock"
_PARTIAL = re.compile(r"^\..+\.(\d+)\.[0-9a-f]{8}\.tmp$")  # files.write_atomic's temporary names


class RunDirError(ValueError):
    """The run directory cannot be used as asked; the message names the flag and the path."""


def prepare_run_dir(out, files, resume=False, overwrite=False, flag="--out", resumable=True):
    """Check that `out` can take a run that writes `files` (names inside it) -> the existing
    ones that --overwrite will replace. Writes nothing: call it before any work starts.
    resumable: whether the command has --resume to offer (train does, finetune does not)."""
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


def pid_alive(pid):
    """Whether a process with this pid exists (signal 0 asks without sending anything)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to someone else
        return True
    return True


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

    The lock is a file holding the writer's pid, created with O_EXCL so that two processes
    cannot both create it. A lock whose pid no longer runs was left by a killed run: it is taken
    over, and `log` says so.
    """

    def __init__(self, out, log=None, flag="--out"):
        self.path = Path(out) / LOCK
        self.log = log or (lambda message: None)
        self.flag = flag

    def __enter__(self):
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                holder = self._holder()
                if holder is not None and pid_alive(holder) and holder != os.getpid():
                    raise RunDirError(
                        f"{self.flag} {self.path.parent}: another run (pid {holder}) is writing "
                        f"there; wait for it to finish, or use another {self.flag}"
                    ) from None
                self.log(f"note: taking over the lock of a run that is gone ({self.path})")
                self.path.unlink(missing_ok=True)
                continue
            except OSError as e:
                raise RunDirError(describe_os_error(e, f"{self.flag} {self.path.parent}")) from None
            with os.fdopen(fd, "w") as f:
                f.write(f"{os.getpid()}\n")
            return self
        raise RunDirError(f"{self.flag} {self.path.parent}: could not take the lock {self.path}")

    def _holder(self):
        try:
            return int(self.path.read_text().strip() or "0") or None
        except (OSError, ValueError):
            return None  # unreadable or half-written: no live writer vouches for it

    def __exit__(self, *exc):
        if self._holder() == os.getpid():
            self.path.unlink(missing_ok=True)


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
            raise TrainingError(describe_os_error(e, f"--out {out}: could not write")) from None
