"""``torch.backends.cpu``: what the CPU offers. chainrule's arithmetic is NumPy's, whatever the CPU."""


def get_cpu_capability():
    """PyTorch names the vector instruction set its kernels use; chainrule has no kernels of its own."""
    return "DEFAULT"
