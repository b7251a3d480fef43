"""The file a checkpoint is read from: checked before anything is read, read only where asked.

A path must name a regular file (``/dev/zero``, a FIFO or a directory is refused by ``fstat`` before a
byte is read) and its size is known up front, so every offset and length a file claims can be checked
against it before memory is allocated. A file object is read from its current position; one that cannot
seek is read into memory first (there is no other way to know its size).
"""
import errno
import io
import mmap
import os
import stat

import numpy

from .errors import CheckpointError

_CHUNK = 1 << 24


def describe(f):
    """How messages name the file: the path the user gave, or the file object's name."""
    if isinstance(f, (str, bytes, os.PathLike)):
        return repr(os.fsdecode(os.fspath(f)))
    return repr(getattr(f, "name", "<file object>"))


def is_path(f):
    return isinstance(f, (str, bytes, os.PathLike))


class Source:
    """Random access to the bytes of one checkpoint, bounded by its size."""

    def __init__(self, f, who="chainrule.load"):
        self.who = who
        self.name = describe(f)
        self.path = None
        self._owned = None
        if is_path(f):
            self.path = os.fspath(f)
            _check_regular(os.stat(self.path), self.path, self.name, who)   # before open(): a FIFO would block it
            handle = open(self.path, "rb")
            self._owned = handle
            try:
                info = os.fstat(handle.fileno())
                _check_regular(info, self.path, self.name, who)
            except BaseException:
                handle.close()
                raise
            self._file, self._start, self.size = handle, 0, info.st_size
            return
        if not hasattr(f, "read"):
            raise TypeError(f"{who}: expected a path (str or os.PathLike) or a binary file object with read(), "
                            f"got {type(f).__name__}")
        if isinstance(f, io.TextIOBase):
            raise CheckpointError(f"{who}: {self.name} was opened in text mode; open it with 'rb'")
        if _seekable(f):
            self._file, self._start = f, f.tell()
            self.size = f.seek(0, io.SEEK_END) - self._start
            f.seek(self._start)
        else:
            self._file, self._start = io.BytesIO(_read_all(f, who, self.name)), 0
            self.size = len(self._file.getbuffer())

    def close(self):
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def read(self, offset, n, what):
        """Exactly ``n`` bytes at ``offset``; a CheckpointError naming ``what`` if the file ends first."""
        if offset < 0 or n < 0 or offset + n > self.size:
            raise self.truncated(what)
        self._file.seek(self._start + offset)
        data = self._file.read(n)
        if isinstance(data, str):
            raise CheckpointError(f"{self.who}: {self.name} was opened in text mode; open it with 'rb'")
        if len(data) != n:
            raise self.truncated(what)
        return data

    def read_array(self, offset, n, what, out=None):
        """``n`` bytes at ``offset`` into ``out`` or a fresh, writable, aligned uint8 array (no intermediate copy)."""
        if offset < 0 or n < 0 or offset + n > self.size:
            raise self.truncated(what)
        if out is None:
            out = numpy.empty(n, dtype=numpy.uint8)
        view = memoryview(out)
        self._file.seek(self._start + offset)
        done = 0
        while done < n:
            got = self._file.readinto(view[done:done + _CHUNK]) if hasattr(self._file, "readinto") else None
            if got is None:   # a file object without readinto
                chunk = self._file.read(min(_CHUNK, n - done))
                got = len(chunk)
                view[done:done + got] = chunk
            if not got:
                raise self.truncated(what)
            done += got
        return out

    def map(self):
        """The whole file mapped copy-on-write: pages are read when touched; writes stay private."""
        if self.path is None:
            raise ValueError("f must be a file path in order to use the mmap argument")
        if self.size == 0:
            raise CheckpointError(f"{self.who}: {self.name} is empty")
        return mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_COPY)

    def truncated(self, what):
        return CheckpointError(f"{self.who}: {self.name} is truncated ({what} runs past the end of its "
                               f"{self.size} bytes)")


def _check_regular(info, path, name, who):
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(errno.EISDIR, "Is a directory", path)
    if not stat.S_ISREG(info.st_mode):
        raise CheckpointError(f"{who}: {name} is not a regular file ({_kind(info.st_mode)}); a checkpoint is read "
                              "from a regular file or a binary file object")


def _seekable(f):
    try:
        return bool(f.seekable()) if hasattr(f, "seekable") else (f.tell() is not None)
    except (OSError, AttributeError, ValueError):
        return False


def _read_all(f, who, name):
    parts = []
    while True:
        chunk = f.read(_CHUNK)
        if isinstance(chunk, str):
            raise CheckpointError(f"{who}: {name} was opened in text mode; open it with 'rb'")
        if not chunk:
            return b"".join(parts)
        parts.append(chunk)


def _kind(mode):
    for test, kind in ((stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a pipe"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return kind
    return "not a regular file"
