"""Check where a command will write before it does the work, so a typo costs a second, not a training run."""
import os

__all__ = ["OutputError", "check_output", "plot_path", "check_memory", "physical_memory"]


class OutputError(ValueError):
    """An output path or a requested size that cannot work; the message names the option and the reason."""


def check_output(path, option):
    """Raise OutputError unless ``path`` can be created: its folder exists and is writable, and it is no folder."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise OutputError(f"{option} {path}: is a directory; give a file name")
    if not os.path.isdir(folder):
        raise OutputError(f"{option} {path}: directory {os.path.dirname(path) or folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise OutputError(f"{option} {path}: cannot write into {folder} (permission denied)")
    return path


def plot_path(path, default_name, option="--plot", formats=("png", "svg", "pdf", "jpg", "jpeg")):
    """Where a plot given as ``path`` goes: a folder gets ``default_name`` inside it; no suffix gets ``.png``."""
    path = os.fspath(path)
    if os.path.isdir(path):
        path = os.path.join(path, default_name)
    name = os.path.basename(path)
    if "." not in name:
        path += ".png"
    elif name.rsplit(".", 1)[1].lower() not in formats:
        raise OutputError(f"{option} {path}: cannot write a .{name.rsplit('.', 1)[1]} picture; "
                          f"use one of {', '.join('.' + f for f in formats)}")
    return check_output(path, option)


def physical_memory():
    """Bytes of RAM on this machine, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _bytes(n):
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000


def check_memory(n_values, itemsize, what):
    """Refuse, naming the size, a request of ``n_values`` numbers that cannot fit in this machine's memory."""
    need = int(n_values) * itemsize
    have = physical_memory()
    if have is not None and need > have:
        raise OutputError(f"{what} needs about {_bytes(need)} ({n_values:.3g} numbers of {itemsize} bytes); "
                          f"this machine has {_bytes(have)} of memory")
    return need
