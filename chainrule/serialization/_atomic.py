"""Atomic saves: readers see the old file or the new one, never a mix, and no temporary file is left behind.

The file is written under a temporary name in the same directory (``.NAME.PID.TOKEN.tmp``), flushed and
fsync'ed, then renamed over the target. Every failure -- an exception, Ctrl-C -- removes the temporary
file. A process killed outright (SIGKILL, power loss) cannot clean up, so each save first removes the
temporaries of the same target whose writing process no longer exists (the PID in the name says which).
Errors name the path the user gave, never the temporary one.
"""
import errno
import os
import re
import secrets


def atomic_write(f, write, who="chainrule.save"):
    """Call ``write(binary_file)`` into a temporary file, then rename it to the path ``f``."""
    path = os.fspath(f)
    target = os.path.abspath(path)
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise RuntimeError(f"Parent directory {os.path.dirname(path) or directory} does not exist.")
    if os.path.isdir(target):
        raise IsADirectoryError(errno.EISDIR, f"{who}: is a directory", path)
    base = os.path.basename(target)
    remove_stale_temporaries(directory, base)
    tmp = os.path.join(directory, f".{base}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        # 0o666 minus the umask: the permissions an ordinary open() would give the file.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as exc:
        raise type(exc)(exc.errno, f"{who}: cannot create a file next to it: {exc.strerror}", path) from None
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        _unlink_quietly(tmp)
        if isinstance(exc, OSError) and exc.filename in (tmp, None):
            raise type(exc)(exc.errno, f"{who}: {exc.strerror}", path) from None
        raise
    _fsync_directory(directory)


_TEMPORARY = re.compile(r"\.(?P<base>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp\Z")


def remove_stale_temporaries(directory, base):
    """Remove ``.BASE.PID.TOKEN.tmp`` files left by saves whose process has died (POSIX only)."""
    if os.name != "posix":   # os.kill(pid, 0) only probes on POSIX; elsewhere it would signal
        return
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        match = _TEMPORARY.match(name)
        if match and match.group("base") == base and not _alive(int(match.group("pid"))):
            _unlink_quietly(os.path.join(directory, name))


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True   # exists but is another user's, or cannot tell: leave its file alone
    return True


def _unlink_quietly(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_directory(directory):
    """Make the rename itself durable (POSIX); harmless to skip where unsupported."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)
