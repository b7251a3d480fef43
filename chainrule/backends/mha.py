"""``torch.backends.mha``: the switch for the inference fast path of ``TransformerEncoder``.

In PyTorch that path runs fused kernels; what a program can see of it is that, in eval mode without
gradients and with a left-aligned ``src_key_padding_mask``, ``TransformerEncoder`` returns zeros at the padded
positions. chainrule's ``TransformerEncoder`` reproduces that when this switch is on (the default), and not
when a program turns it off, as in PyTorch.
"""
_fastpath_enabled = True


def get_fastpath_enabled():
    return _fastpath_enabled


def set_fastpath_enabled(value):
    global _fastpath_enabled
    _fastpath_enabled = bool(value)
