"""``torch.backends.cudnn``: cuDNN's switches. chainrule has no cuDNN: ``is_available()`` is False and the
switches (PyTorch's defaults) are kept as a program sets them, changing nothing, as in CPU-only PyTorch."""

enabled = True
benchmark = False
deterministic = False
allow_tf32 = True


def is_available():
    return False


def version():
    return None
