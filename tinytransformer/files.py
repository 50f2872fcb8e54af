"""Writing files safely: a reader (or a crash) sees the old file or the complete new one, the
old folder or the complete new one; and one clear line for a file-system fault."""

import errno
import os
import secrets
import shutil
from pathlib import Path


def write_atomic(path, data):
    """Write bytes to `path` through a temporary file in the same directory and `os.replace`,
    so a reader sees either the old file or the complete new one, never half of it."""
    path = Path(path)
    # A fresh name next to the target (same filesystem, so os.replace is atomic). Opened with
    # open(), not tempfile.mkstemp, so the file gets the usual permissions rather than 0600.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with open(tmp, "xb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def describe_os_error(e, what):
    """One line for an OSError: what failed (a phrase naming the flag or file) and why."""
    reasons = {
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EROFS: "the file system is read-only",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOTDIR: "a part of the path is a file, not a directory",
        errno.EISDIR: "it is a directory, not a file",
        errno.EFBIG: "the file is larger than this process may write",
    }
    return f"{what}: {reasons.get(e.errno, e.strerror or str(e))}"


def replace_folder(folder, write):
    """Make `folder` hold what write(tmp) puts in a fresh folder, as a whole: `write` fills a
    temporary folder beside it, and only a complete one takes the folder's place (the old one,
    if any, is moved aside and then deleted). A crash leaves the old folder, or the new one,
    and at most a hidden `.NAME.<pid>.<hex>` folder beside it, which the next call removes
    once its writer is gone. -> the folder."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    for left in folder.parent.glob(f".{folder.name}.*"):  # of a replace that was killed
        pid = left.name.removeprefix(f".{folder.name}.").split(".")[0]
        if left.is_dir() and pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(left, ignore_errors=True)
    tag = f"{os.getpid()}.{secrets.token_hex(4)}"
    tmp = folder.with_name(f".{folder.name}.{tag}.new")
    old = folder.with_name(f".{folder.name}.{tag}.old")
    tmp.mkdir()
    try:
        write(tmp)
        if folder.exists():
            os.rename(folder, old)
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not folder.exists():
            os.rename(old, folder)  # put the old folder back
        raise
    shutil.rmtree(old, ignore_errors=True)
    return folder


def pid_alive(pid):
    """Whether a process with this pid exists (signal 0 asks without sending anything). A pid
    that no process can have (0, negative, beyond the system's range) is not alive."""
    if not 0 < pid <= MAX_PID:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, and belongs to someone else
        return True
    return True


MAX_PID = 2**22  # Linux's largest pid_max; other systems stay below it
