"""chainrule.compile captures a training step through every kind of layer and loss.

Each case trains a small model with Adam and clip_grad_norm_; the compiled step must capture and replay. The
tests run with CHAINRULE_COMPILE_CHECK_EVERY=1 (conftest.py): every replay is also run eagerly from the same
state and compared, and a disagreement is a refusal, which fails the case.
"""
import warnings

import numpy as np
import pytest

import chainrule as cr

nn = cr.nn


class _CausalSelfAttention(nn.Module):
    """GPT's attention as GPT training scripts write it: heads split by view/transpose, and merged back by
    ``transpose(1, 2).contiguous().view(...)``, which needs ``contiguous()`` to make a C-ordered copy."""

    def __init__(self, embd=8, heads=2):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(embd, 3 * embd, bias=False)
        self.c_proj = nn.Linear(embd, embd, bias=False)

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        y = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.c_proj(y.transpose(1, 2).contiguous().view(B, T, C))


def _data(*shape):
    return lambda r: cr.tensor(r.standard_normal(shape).astype(np.float32))


LAYERS = {
    "Linear": (lambda: nn.Linear(4, 3), _data(5, 4)),
    "Conv1d": (lambda: nn.Conv1d(2, 3, 3, padding=1), _data(2, 2, 7)),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3, stride=2), _data(2, 2, 7, 7)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2), _data(2, 2, 4, 4)),
    "MaxPool2d": (lambda: nn.Sequential(nn.Conv2d(2, 2, 1), nn.MaxPool2d(2)), _data(2, 2, 6, 6)),
    "AvgPool2d": (lambda: nn.Sequential(nn.Conv2d(2, 2, 1), nn.AvgPool2d(2)), _data(2, 2, 6, 6)),
    "AdaptiveAvgPool2d": (lambda: nn.Sequential(nn.Conv2d(2, 2, 1), nn.AdaptiveAvgPool2d(1)), _data(2, 2, 6, 6)),
    "BatchNorm2d": (lambda: nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2)), _data(3, 2, 4, 4)),
    "LayerNorm": (lambda: nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4)), _data(3, 4)),
    "GroupNorm": (lambda: nn.Sequential(nn.Conv2d(4, 4, 1), nn.GroupNorm(2, 4)), _data(2, 4, 3, 3)),
    "Embedding": (lambda: nn.Embedding(7, 3), lambda r: cr.tensor(r.integers(0, 7, (2, 5)))),
    "RNN": (lambda: nn.RNN(3, 4, batch_first=True), _data(2, 5, 3)),
    "LSTM": (lambda: nn.LSTM(3, 4, num_layers=2, batch_first=True), _data(2, 5, 3)),
    "GRU": (lambda: nn.GRU(3, 4, bidirectional=True), _data(5, 2, 3)),
    "MultiheadAttention": (lambda: nn.MultiheadAttention(8, 2, batch_first=True), _data(2, 5, 8)),
    "TransformerEncoderLayer": (lambda: nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True),
                                _data(2, 5, 8)),
    "GPT causal self-attention": (_CausalSelfAttention, _data(2, 5, 8)),
    "Dropout in eval mode": (lambda: nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.5)).eval(), _data(3, 4)),
    "Flatten, Unflatten": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.Unflatten(1, (2, 3))),
                           _data(2, 3, 4)),
}
for _name, _make in {"ReLU": nn.ReLU, "LeakyReLU": nn.LeakyReLU, "ELU": nn.ELU, "SELU": nn.SELU, "GELU": nn.GELU,
                     "SiLU": nn.SiLU, "Mish": nn.Mish, "Softplus": nn.Softplus, "Hardtanh": nn.Hardtanh,
                     "Hardswish": nn.Hardswish, "Sigmoid": nn.Sigmoid, "Tanh": nn.Tanh, "Softsign": nn.Softsign,
                     "Softmax": lambda: nn.Softmax(dim=1), "LogSoftmax": lambda: nn.LogSoftmax(dim=1),
                     "Threshold": lambda: nn.Threshold(0.1, 0.0)}.items():
    LAYERS[_name] = (lambda make=_make: nn.Sequential(nn.Linear(4, 4), make()), _data(3, 4))


def _classes(r, out):
    return cr.tensor(r.integers(0, out.shape[1], out.shape[0]))


LOSSES = {
    "MSELoss": (nn.MSELoss, lambda r, out: _data(*out.shape)(r)),
    "L1Loss": (nn.L1Loss, lambda r, out: _data(*out.shape)(r)),
    "SmoothL1Loss": (nn.SmoothL1Loss, lambda r, out: _data(*out.shape)(r)),
    "HuberLoss": (nn.HuberLoss, lambda r, out: _data(*out.shape)(r)),
    "CrossEntropyLoss": (nn.CrossEntropyLoss, _classes),
    "CrossEntropyLoss with weights and smoothing": (
        lambda: nn.CrossEntropyLoss(weight=cr.tensor([1.0, 2.0, 3.0]), label_smoothing=0.1), _classes),
    "CrossEntropyLoss with ignore_index": (lambda: nn.CrossEntropyLoss(ignore_index=1), _classes),
    "NLLLoss": (nn.NLLLoss, _classes),
    "BCEWithLogitsLoss": (nn.BCEWithLogitsLoss, lambda r, out: cr.tensor(r.uniform(0, 1, out.shape).astype(np.float32))),
    "KLDivLoss": (lambda: nn.KLDivLoss(reduction="batchmean"), lambda r, out: cr.softmax(_data(*out.shape)(r), 1)),
}


def _captured_and_replayed(make_model, make_x, make_loss=None, make_target=None):
    cr.manual_seed(0)
    r = np.random.default_rng(0)
    model = make_model()
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    loss_fn = make_loss() if make_loss else None

    def forward(x):
        out = model(x, x, x) if isinstance(model, nn.MultiheadAttention) else model(x)
        return out[0] if isinstance(out, tuple) else out
    target = make_target(r, forward(make_x(r))) if make_target else None

    def step(x):
        opt.zero_grad()
        out = forward(x)
        loss = loss_fn(out, target) if loss_fn else out.pow(2).mean()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss.detach()
    compiled = cr.compile(step)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        for _ in range(5):
            compiled(make_x(r))
    assert not compiled.refusals, compiled.refusals
    assert sum(p.replays for p in compiled.programs) >= 3


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_a_step_through_the_layer_is_captured(name):
    _captured_and_replayed(*LAYERS[name])


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_a_step_with_the_loss_is_captured(name):
    _captured_and_replayed(lambda: nn.Linear(4, 3), _data(5, 4), *LOSSES[name])
