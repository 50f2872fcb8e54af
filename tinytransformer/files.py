"""Files read and written safely: a reader (or a crash) sees the old file or the complete new
one; a file handed to us is read only if it is a regular file of a bounded size; and one clear
line, naming the file, for every fault."""

import errno
import json
import os
import secrets
import stat
from pathlib import Path


class FileFault(ValueError):
    """A file we cannot use as asked: not a regular file, too large, unreadable, or (read_json)
    not JSON. The message is one line that names the file."""


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


def read_regular_file(path, limit):
    """The bytes of `path`, which must be a regular file of at most `limit` bytes.

    Anything else is refused in one line naming the file, before its content is read: a folder,
    a FIFO (reading one waits for a writer, forever if there is none), a device (a symlink to
    /dev/zero would be read until memory runs out), a file larger than `limit`. Raises
    FileNotFoundError when nothing is at `path`, FileFault (a ValueError) for the rest.
    """
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer (the FIFO is
        # then refused below); for a regular file it changes nothing.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except OSError as e:
        raise FileFault(describe_os_error(e, str(path))) from None
    try:
        # Checked on the open file, not on the path, so the file cannot be swapped in between.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileFault(f"{path}: expected a regular file, got {_kind(info.st_mode)}")
        if info.st_size > limit:
            raise FileFault(f"{path}: {info.st_size:,} bytes, more than the {limit:,} allowed")
        with open(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)  # one byte more: a file that grew after fstat shows it
    except OSError as e:
        raise FileFault(describe_os_error(e, str(path))) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise FileFault(f"{path}: more than the {limit:,} bytes allowed")
    return data


def read_text(path, limit):
    """The UTF-8 text in `path`, read by read_regular_file's rules; a file that is not UTF-8 is
    a FileFault naming it and the offset of the first bad byte."""
    data = read_regular_file(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FileFault(f"{path}: not a UTF-8 text file (bad byte at offset {e.start})") from None


def read_json(path, limit):
    """The JSON value in `path`, read by read_text's rules; a file that is not JSON, or is
    nested too deeply for Python's parser, is a FileFault naming it."""
    text = read_text(path, limit)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise FileFault(
            f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})"
        ) from None
    except ValueError as e:  # a number of more than 4,300 digits, which int() refuses
        raise FileFault(f"{path}: not valid JSON ({e})") from None
    except RecursionError:
        raise FileFault(f"{path}: JSON nested too deeply to read") from None


def _kind(mode):
    """What a file that is not a regular one is, for a message."""
    kinds = [
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ]
    return next((name for test, name in kinds if test(mode)), "another kind of file")
