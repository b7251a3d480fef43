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


def check_device(dev):
    """Accept the CPU; refuse other devices with a message that says why."""
    if dev is None:
        return
    d = device(dev) if not isinstance(dev, int) else device("cuda", dev)
    if d.type != "cpu":
        raise RuntimeError(f"chainrule runs on the CPU only: device '{d}' is not available "
                           f"(chainrule.cuda.is_available() is False). Use device='cpu'.")
