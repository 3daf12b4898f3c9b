"""Where the shipped files live: one place, so every layer can find the assets without importing
the layer that happens to write them; and `read_capped`, the one way a user's file is read (the
CLI's inputs and the app's uploads), with a byte cap and only if it is a regular file."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from clreg_core.errors import UserInputError

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"


def cache_root() -> Path:
    """Where the app keeps what it can rebuild (converted models, measurements of frozen
    models): $CLREG_CACHE, else ~/.cache/clreg-lab."""
    return Path(os.environ.get("CLREG_CACHE", Path.home() / ".cache" / "clreg-lab"))


class FileTooLargeError(UserInputError):
    """A file over the byte cap of `read_capped`; `size` is its size (at least `limit + 1`)."""

    def __init__(self, message: str, size: int, limit: int) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit


_NOT_REGULAR = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(path: str | os.PathLike, mode: int) -> UserInputError:
    kind = next((name for test, name in _NOT_REGULAR if test(mode)), "")
    return UserInputError(
        f"could not read {path}: it is not a regular file" + (f" ({kind})" if kind else "")
    )


def read_capped(path: str | os.PathLike, limit: int) -> bytes:
    """The bytes of the regular file at `path`, refused with a `UserInputError` naming the path
    if it is missing, unreadable, not a regular file (a device such as /dev/zero, a fifo, a
    socket, a folder) or over `limit` bytes, before anything past `limit + 1` bytes is read.

    The checks are made on the opened descriptor, so a path swapped between check and read is
    still checked; O_NONBLOCK keeps the open of a fifo with no writer from waiting forever."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UserInputError(f"file not found: {path}") from None
    except OSError as err:  # no permission, a socket (ENXIO), a name too long...
        mode = 0
        if err.errno == errno.ENXIO:  # a socket or a device with nothing behind it: say which
            with contextlib.suppress(OSError):
                mode = os.stat(path).st_mode
        if mode:
            raise _not_regular(path, mode) from None
        raise UserInputError(f"could not read {path}: {err.strerror or err}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise _not_regular(path, info.st_mode)
        if info.st_size > limit:
            raise FileTooLargeError(
                f"{path} is {info.st_size:,} bytes; the limit is {limit:,} bytes",
                info.st_size,
                limit,
            )
        chunks, total = [], 0
        while total <= limit:  # a file that grew since fstat is still cut at limit + 1 bytes
            chunk = os.read(fd, min(limit + 1 - total, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as err:
        raise UserInputError(f"could not read {path}: {err.strerror or err}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:
        raise FileTooLargeError(
            f"{path} is more than {limit:,} bytes; the limit is {limit:,} bytes", len(data), limit
        )
    return data
