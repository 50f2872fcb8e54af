"""Writing files safely: a reader (or a crash) sees the old file or the complete new one; and
one clear line for a file-system fault."""

import errno
import os
import secrets
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
