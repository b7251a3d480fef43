"""``DataParallel``: PyTorch's single-process, multi-GPU wrapper. Without GPUs (chainrule's case, and PyTorch's
on a CPU-only machine) it runs the module as it is, so programs that wrap their model in it run unchanged."""
from ..modules.module import Module


class DataParallel(Module):
    """``torch.nn.DataParallel`` on a machine without GPUs: forward calls ``.module`` directly."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        if device_ids:
            raise ValueError(f"DataParallel(device_ids={device_ids}): chainrule has no GPUs; leave device_ids unset "
                             f"(for several processes, use DistributedDataParallel)")
        self.module = module
        self.device_ids = []
        self.output_device = None
        self.dim = dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)
