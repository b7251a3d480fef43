"""``torch.autograd.anomaly_mode``: PyTorch's path for anomaly detection (defined in ``anomaly.py``)."""
from .anomaly import detect_anomaly, set_detect_anomaly  # noqa: F401
