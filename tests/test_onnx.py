"""chainrule.onnx.export: every export is run by ONNX Runtime on fresh inputs and compared with chainrule's own
forward (rtol 1e-5); with dynamic_axes, also at another batch size (and sequence length where it is dynamic).
"""
import io
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import chainrule
import chainrule.onnx
from chainrule import nn
from chainrule.nn import functional as F

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

RTOL, ATOL = 1e-5, 1e-5


def _export(model, example, **kwargs):
    buffer = io.BytesIO()
    chainrule.onnx.export(model, example, buffer, **kwargs)
    return buffer.getvalue()


def check(model, make_inputs, sizes=((2,), (5,)), dynamic=None, names=None, opset=None, rtol=RTOL, atol=ATOL):
    """Export ``model`` on ``make_inputs(*sizes[0])``; compare ORT with chainrule on fresh inputs of every size."""
    rng = np.random.default_rng(0)
    example = make_inputs(rng, *sizes[0])
    names = names or [f"in{i}" for i in range(len(example))]
    axes = None
    if dynamic:
        axes = {n: d for n, d in zip(names, dynamic) if d}
    data = _export(model, tuple(chainrule.tensor(a) for a in example), input_names=names, dynamic_axes=axes,
                   opset_version=opset)
    session = ort.InferenceSession(data)
    model.eval()
    for size in (sizes if dynamic else sizes[:1]):
        arrays = make_inputs(rng, *size)   # fresh values, not the example's
        with chainrule.no_grad():
            expected = model(*[chainrule.tensor(a) for a in arrays])
        expected = [t for t in _flat(expected)]
        got = session.run(None, dict(zip(names, arrays)))
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            e = e.detach().numpy()
            assert g.shape == e.shape, (size, g.shape, e.shape)
            if e.dtype.kind == "f":
                np.testing.assert_allclose(g, e, rtol=rtol, atol=atol, err_msg=f"sizes {size}")
            else:
                np.testing.assert_array_equal(g, e, err_msg=f"sizes {size}")
    return data


def _flat(out):
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flat(o)]
    return [out] if out is not None else []


def floats(*shape_fn):
    """make_inputs giving float32 arrays whose shapes are ``fn(*sizes)``."""
    return lambda rng, *s: [rng.standard_normal(fn(*s)).astype(np.float32) for fn in shape_fn]


def ids(vocab, shape_fn):
    return lambda rng, *s: [rng.integers(0, vocab, shape_fn(*s)).astype(np.int64)]


BATCH = {0: "batch"}


# -- layers ---------------------------------------------------------------------------------------------


def test_linear_mlp_with_dropout_and_every_activation():
    acts = [nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(0.2), nn.ELU(0.7), nn.CELU(1.3), nn.SELU(), nn.Sigmoid(), nn.Tanh(),
            nn.SiLU(), nn.GELU(), nn.GELU("tanh"), nn.Softplus(beta=2.0, threshold=3.0), nn.Mish(), nn.Hardtanh(-0.5, 2.0),
            nn.Hardsigmoid(), nn.Hardswish(), nn.Softsign(), nn.LogSigmoid(), nn.Tanhshrink(),
            nn.Threshold(0.1, -3.0)]
    layers = [nn.Linear(6, 8)]
    for act in acts:
        layers += [act, nn.Linear(8, 8), nn.Dropout(0.3)]
    model = nn.Sequential(*layers, nn.Linear(8, 8), nn.GLU(), nn.LogSoftmax(dim=1))
    check(model, floats(lambda b: (b, 6)), dynamic=[BATCH])


@pytest.mark.parametrize("opset", [14, 17, 18, 20])
def test_opsets_with_and_without_native_layer_norm_gelu_and_mish(opset):
    model = nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.GELU(), nn.Mish(), nn.Linear(8, 3))
    check(model, floats(lambda b: (b, 3, 4)), dynamic=[BATCH], opset=opset)


def test_cnn_with_batch_norm_pools_and_group_norm():
    model = nn.Sequential(nn.Conv2d(2, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(6, 8, 3, stride=2, padding=1, groups=2),
                          nn.GroupNorm(4, 8), nn.AvgPool2d(2, ceil_mode=False), nn.Conv2d(8, 4, (1, 3), padding="same"),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3), nn.Softmax(dim=-1))
    model.train()
    model(chainrule.randn(8, 2, 16, 16))   # running statistics that are not the initial ones
    check(model, floats(lambda b: (b, 2, 16, 16)), dynamic=[BATCH])


def test_conv1d_pools_and_batch_norm1d():
    model = nn.Sequential(nn.Conv1d(3, 5, 3, stride=2, padding=1), nn.BatchNorm1d(5), nn.Tanh(),
                          nn.MaxPool1d(3, stride=1, padding=1), nn.AvgPool1d(2, count_include_pad=False),
                          nn.Conv1d(5, 4, 2, dilation=2), nn.AdaptiveAvgPool1d(3), nn.Flatten(1))
    model.train()
    model(chainrule.randn(4, 3, 21))
    check(model, floats(lambda b: (b, 3, 21)), dynamic=[BATCH])


def test_transposed_convolutions():
    model = nn.Sequential(nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
                          nn.ConvTranspose2d(4, 2, 2, groups=2))
    check(model, floats(lambda b: (b, 3, 5, 5)), dynamic=[BATCH])
    check(nn.ConvTranspose1d(3, 2, 4, stride=3), floats(lambda b: (b, 3, 7)), dynamic=[BATCH])


def test_embedding_and_layer_norm_on_token_ids():
    model = nn.Sequential(nn.Embedding(30, 8), nn.LayerNorm(8), nn.Linear(8, 30))
    check(model, ids(30, lambda b, t: (b, t)), sizes=((2, 7), (3, 4)), dynamic=[{0: "batch", 1: "time"}])


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_recurrent_layers(kind, bidirectional, batch_first):
    class Tagger(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(nn, kind)(5, 7, num_layers=2, bidirectional=bidirectional, batch_first=batch_first,
                                         dropout=0.2)
            self.head = nn.Linear(7 * (2 if bidirectional else 1), 3)

        def forward(self, x):
            out, state = self.rnn(x)
            h = state[0] if kind == "LSTM" else state
            return self.head(out), h

    axes = {0: "batch", 1: "time"} if batch_first else {0: "time", 1: "batch"}
    shape = (lambda b, t: (b, t, 5)) if batch_first else (lambda b, t: (t, b, 5))
    check(Tagger(), floats(shape), sizes=((2, 6), (3, 4)), dynamic=[axes])


def test_lstm_with_initial_states_and_final_cell_state():
    lstm = nn.LSTM(4, 6, num_layers=2)

    class Step(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = lstm

        def forward(self, x, h0, c0):
            out, (h, c) = self.lstm(x, (h0, c0))
            return out, h, c

    check(Step(), floats(lambda t, b: (t, b, 4), lambda t, b: (2, b, 6), lambda t, b: (2, b, 6)),
          sizes=((5, 2), (3, 4)), dynamic=[{0: "time", 1: "batch"}, {1: "batch"}, {1: "batch"}])


def test_gru_on_an_unbatched_sequence():
    check(nn.GRU(3, 4), floats(lambda t: (t, 3)), sizes=((5,), (2,)), dynamic=[{0: "time"}])


# -- attention ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_first", [True, False])
def test_multihead_attention_with_masks_and_weights(batch_first):
    mha = nn.MultiheadAttention(8, 2, batch_first=batch_first)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, q, kv, pad):
            L, S = (q.shape[1], kv.shape[1]) if batch_first else (q.shape[0], kv.shape[0])
            causal = chainrule.ones(L, S, dtype=chainrule.bool).triu(1)
            out, weights = self.mha(q, kv, kv, key_padding_mask=pad, attn_mask=causal)
            return out, weights

    def make(rng, b, t):
        shape = (b, t, 8) if batch_first else (t, b, 8)
        pad = np.zeros((b, t), dtype=bool)
        pad[:, -1] = True
        return [rng.standard_normal(shape).astype(np.float32), rng.standard_normal(shape).astype(np.float32), pad]

    axes = {0: "batch", 1: "time"} if batch_first else {0: "time", 1: "batch"}
    check(Model(), make, sizes=((2, 5), (3, 7)), dynamic=[axes, axes, {0: "batch", 1: "time"}])


def test_multihead_self_attention_without_weights():
    mha = nn.MultiheadAttention(12, 3, batch_first=True)

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = mha

        def forward(self, x):
            return self.mha(x, x, x, need_weights=False)[0]

    check(Model(), floats(lambda b, t: (b, t, 12)), sizes=((2, 4), (1, 6)), dynamic=[{0: "b", 1: "t"}])


def test_scaled_dot_product_attention_causal_masked_and_scaled():
    class Model(nn.Module):
        def forward(self, q, k, v, mask):
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            b = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3)
            c = F.scaled_dot_product_attention(q, k, v, attn_mask=mask.float() * -2.0)
            return a + b + c

    def make(rng, b, t):
        x = [rng.standard_normal((b, 2, t, 4)).astype(np.float32) for _ in range(3)]
        return x + [np.tril(np.ones((t, t), dtype=bool))]

    axes = {0: "batch", 2: "time"}
    check(Model(), make, sizes=((2, 5), (3, 3)), dynamic=[axes, axes, axes, {0: "time", 1: "time"}])


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.ln2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width), nn.Dropout(0.1))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(y.transpose(1, 2).contiguous().view(B, T, C))
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, vocab=40, width=16, heads=4, layers=2, context=12):
        super().__init__()
        self.tok = nn.Embedding(vocab, width)
        self.pos = nn.Embedding(context, width)
        self.blocks = nn.ModuleList([Block(width, heads) for _ in range(layers)])
        self.ln = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab, bias=False)
        self.head.weight = self.tok.weight
        self.register_buffer("mask", chainrule.tril(chainrule.ones(context, context)))

    def forward(self, idx):
        T = idx.shape[1]
        x = self.tok(idx) + self.pos(chainrule.arange(T))
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.ln(x))
        return logits[:, -1, :], logits


def test_a_small_gpt_with_dynamic_batch_and_sequence_length():
    data = check(GPT(), ids(40, lambda b, t: (b, t)), sizes=((2, 8), (3, 5), (1, 12)),
                 dynamic=[{0: "batch", 1: "time"}], names=["idx"])
    model = onnx.load_from_string(data)
    shared = [i for i in model.graph.initializer if i.name == "tok.weight"]
    assert len(shared) == 1 and not any(i.name == "head.weight" for i in model.graph.initializer)


# -- tensor ops -----------------------------------------------------------------------------------------


class TensorOps(nn.Module):
    """Reshapes, slicing, indexing, concatenation, reductions, comparisons and creation in one forward."""

    def forward(self, x, y):
        B = x.shape[0]
        a = x.reshape(B, -1).view(B, 3, 4).permute(0, 2, 1).contiguous()          # (B, 4, 3)
        b = chainrule.cat([a, a * 2], dim=2)                                      # (B, 4, 6)
        c = b[:, 1:3, ::2] + b[..., 0:1][:, None, 0].transpose(1, 2)[:, :, :1]    # (B, 2, 3)
        d = chainrule.stack([c, c.exp()], dim=1).flatten(1)                       # (B, 12)
        e = d.unsqueeze(1).expand(B, 2, 12)                                       # (B, 2, 12)
        f = e.sum(dim=1) + e.mean(1, keepdim=True).squeeze(1) - e.amax(dim=(1, 2)).unsqueeze(1)
        g = f.max(dim=1).values.unsqueeze(1) * f.min(dim=1, keepdim=True)[0] + f.var(dim=1, keepdim=True)
        h = chainrule.where(g > 0, g, -g) + chainrule.maximum(f, y) + chainrule.minimum(f, y).clamp(-1, 1)
        i = (h ** 2 + 1).sqrt().log1p().rsqrt() + h.abs().softmax(-1) + F.log_softmax(h, dim=1)
        j = i.masked_fill(i < 0.5, 0.0) @ chainrule.ones(12, 5)                  # (B, 5)
        k = chainrule.zeros(B, 5) + chainrule.arange(5).float() + j[:, chainrule.tensor([4, 0, 2, 1, 3])]
        first, rest = k.split([2, 3], dim=1)
        n = chainrule.einsum("bi,bj->bij", first, first).reshape(B, 4)           # (B, 4)
        o = (n.argmax(dim=1).float() + n.std(1) + n.norm(dim=1) + n.cumsum(1)[:, 2] + n.logsumexp(1)).unsqueeze(1)
        return chainrule.cat([o, rest[:, -1:], k.chunk(5, dim=1)[3], n.tril(diagonal=0)[:, :2], (n > 0).float(),
                              n.flip(1)[:, 1:2], x[:, 3].unsqueeze(-1), x[:, -2:], x.view(B, 3, 4)[:, 1, 2:3]], dim=1)


def test_tensor_ops_with_dynamic_batch():
    check(TensorOps(), floats(lambda b: (b, 12), lambda b: (b, 12)), dynamic=[BATCH, BATCH])


def test_a_static_export_folds_constants():
    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(chainrule.randn(4, 4))

        def forward(self, x):
            return x @ (self.w.t() @ self.w + chainrule.eye(4))   # computed from parameters only: one constant

    data = check(Model(), floats(lambda b: (b, 4)))
    assert [n.op_type for n in onnx.load_from_string(data).graph.node] == ["MatMul", "Identity"]


# -- errors ---------------------------------------------------------------------------------------------


def test_an_op_without_a_mapping_is_named_with_its_line():
    class Model(nn.Module):
        def forward(self, x):
            return x.median(dim=1).values

    with pytest.raises(chainrule.onnx.UnsupportedOperatorError,
                       match=r"torch.Tensor.median has no ONNX mapping in chainrule \(called at .*test_onnx.py:\d+\)"):
        _export(Model(), (chainrule.randn(2, 3),))


def test_an_op_reached_around_the_trace_is_caught():
    from chainrule.ops.sort import median   # imported by name: not the wrapped chainrule.median

    class Model(nn.Module):
        def forward(self, x):
            return median(x, dim=1).values * 2

    with pytest.raises(chainrule.onnx.UnsupportedOperatorError, match="MedianBackward|without passing through"):
        _export(Model(), (chainrule.randn(2, 3),))


def test_reading_a_value_into_python_is_refused():
    class Model(nn.Module):
        def forward(self, x):
            return x * 2 if x.sum().item() > 0 else x

    with pytest.raises(chainrule.onnx.OnnxExporterError, match=r"reads a traced tensor's value into Python "
                                                               r"\(torch.Tensor.item"):
        _export(Model(), (chainrule.randn(2, 3),))


def test_training_mode_is_restored_and_the_wrappers_removed():
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    add, call = chainrule.Tensor.__add__, nn.Module.__call__
    _export(model, (chainrule.randn(1, 2),))
    assert model.training and model[1].training
    assert chainrule.Tensor.__add__ is add and nn.Module.__call__ is call
    assert all(p.requires_grad for p in model.parameters())
    assert not chainrule.onnx.is_in_onnx_export()


def test_a_clear_message_without_the_onnx_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install 'chainrule\[onnx\]'"):
        _export(nn.Linear(2, 2), (chainrule.randn(1, 2),))


def test_refused_settings():
    with pytest.raises(chainrule.onnx.OnnxExporterError, match="opset_version 9"):
        _export(nn.Linear(2, 2), (chainrule.randn(1, 2),), opset_version=9)
    with pytest.raises(chainrule.onnx.OnnxExporterError, match="dynamic_shapes is not supported"):
        _export(nn.Linear(2, 2), (chainrule.randn(1, 2),), dynamic_shapes={"x": {0: "b"}})


def test_torch_onnx_export_through_the_runner(tmp_path):
    program = textwrap.dedent("""
        import torch
        import torch.nn as nn
        import torch.onnx

        model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
        torch.save(model.state_dict(), "weights.pt")
        dummy = torch.randn(1, 3)
        torch.onnx.export(model, dummy, "model.onnx", input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=17)
        print("exported", torch.onnx.is_in_onnx_export())
        """)
    (tmp_path / "export.py").write_text(program)
    result = subprocess.run([sys.executable, "-m", "chainrule", "run", "export.py"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "exported False"
    model = nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 2))
    model.load_state_dict(chainrule.load(tmp_path / "weights.pt"))
    x = np.random.default_rng(1).standard_normal((4, 3)).astype(np.float32)
    got = ort.InferenceSession(str(tmp_path / "model.onnx")).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, model(chainrule.tensor(x)).detach().numpy(), rtol=RTOL, atol=ATOL)
