"""Devices as PyTorch scripts name them. chainrule computes on the CPU (NumPy); the array seam in
``_backend`` is where a GPU array library would plug in."""


class device:
    """``chainrule.device('cpu')``; ``'cuda'`` can be named but not used until a GPU backend exists."""

    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        type = str(type)
        if ":" in type:
            type, idx = type.split(":", 1)
            index = int(idx)
        if type not in ("cpu", "cuda", "mps", "meta"):
            raise RuntimeError(f"Expected one of cpu, cuda, mps device type at start of device string: {type}")
        self.type = type
        self.index = index

    def __repr__(self):
        return f"device(type='{self.type}'" + (f", index={self.index})" if self.index is not None else ")")

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))


_default_device = None   # set_default_device's device; None is the CPU


def get_default_device():
    """The device factory functions put tensors on when given none: ``device(type='cpu')`` unless
    ``set_default_device`` said otherwise."""
    return device("cpu") if _default_device is None else _default_device


def set_default_device(dev):
    """Make ``dev`` the device of tensors that factory functions create without a ``device=``; ``None`` goes
    back to the CPU. Naming a device chainrule lacks is accepted (as CPU-only PyTorch accepts "cuda"), and
    the next tensor created on it is refused."""
    global _default_device
    if dev is None:
        _default_device = None
        return
    if isinstance(dev, int):   # an accelerator's index, as PyTorch reads a bare int
        raise RuntimeError("Cannot access accelerator device when none is available.")
    _default_device = device(dev)


def check_device(dev):
    """Accept the CPU; refuse other devices with a message that says why."""
    if dev is None:
        if _default_device is None or _default_device.type == "cpu":
            return
        raise RuntimeError(f"chainrule runs on the CPU only: the default device '{_default_device}' (from "
                           "set_default_device) is not available (chainrule.cuda.is_available() is False). "
                           "Use set_default_device('cpu').")
    d = device(dev) if not isinstance(dev, int) else device("cuda", dev)
    if d.type != "cpu":
        raise RuntimeError(f"chainrule runs on the CPU only: device '{d}' is not available "
                           f"(chainrule.cuda.is_available() is False). Use device='cpu'.")
