"""``nn.Transformer`` and its parts against PyTorch: the same weights (copied through state_dict) give the same
outputs and gradients, with every kind of mask PyTorch takes."""
import numpy as np
import pytest
import torch

import chainrule

S, T, N, E, H = 5, 4, 2, 8, 2


def _pair(make):
    """The same module in both libraries, chainrule's loaded from PyTorch's state_dict (float64)."""
    torch.manual_seed(0)
    theirs = make(torch).double()
    ours = make(chainrule).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict({k: chainrule.tensor(v.numpy()) for k, v in theirs.state_dict().items()})
    return ours, theirs


def _inputs(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    return ([chainrule.tensor(a, requires_grad=True) for a in arrays],
            [torch.tensor(a, requires_grad=True) for a in arrays])


def _compare(ours_out, theirs_out, ours_in, theirs_in, ours_mod, theirs_mod):
    np.testing.assert_allclose(ours_out.detach().numpy(), theirs_out.detach().numpy(), rtol=1e-9, atol=1e-10)
    up = np.random.default_rng(1).standard_normal(tuple(theirs_out.shape))
    ours_out.backward(chainrule.tensor(up))
    theirs_out.backward(torch.tensor(up))
    for a, b in zip(ours_in, theirs_in):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-8, atol=1e-10)
    theirs_params = dict(theirs_mod.named_parameters())
    for name, p in ours_mod.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), theirs_params[name].grad.numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=name)


def _masks(lib, causal_len, pad_batch, pad_len):
    causal = lib.nn.Transformer.generate_square_subsequent_mask(causal_len).double()
    padding = lib.zeros(pad_batch, pad_len, dtype=lib.bool)
    padding[1, -2:] = True
    return causal, padding


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_layer_matches_pytorch(norm_first, activation):
    ours, theirs = _pair(lambda lib: lib.nn.TransformerEncoderLayer(E, H, dim_feedforward=16, dropout=0.0,
                                                                    activation=activation, norm_first=norm_first))
    (x,), (tx,) = _inputs((S, N, E))
    _compare(ours(x), theirs(tx), [x], [tx], ours, theirs)


@pytest.mark.parametrize("batch_first", [False, True])
def test_encoder_stack_with_causal_and_padding_masks_matches_pytorch(batch_first):
    def make(lib):
        layer = lib.nn.TransformerEncoderLayer(E, H, dim_feedforward=16, dropout=0.0, batch_first=batch_first)
        return lib.nn.TransformerEncoder(layer, num_layers=2, norm=lib.nn.LayerNorm(E), enable_nested_tensor=False)
    ours, theirs = _pair(make)
    shape = (N, S, E) if batch_first else (S, N, E)
    (x,), (tx,) = _inputs(shape)
    mask, pad = _masks(chainrule, S, N, S)
    tmask, tpad = _masks(torch, S, N, S)
    _compare(ours(x, mask=mask, src_key_padding_mask=pad), theirs(tx, mask=tmask, src_key_padding_mask=tpad),
             [x], [tx], ours, theirs)


def test_transformer_matches_pytorch_with_every_mask():
    ours, theirs = _pair(lambda lib: lib.nn.Transformer(d_model=E, nhead=H, num_encoder_layers=2,
                                                        num_decoder_layers=2, dim_feedforward=16, dropout=0.0))
    (src, tgt), (tsrc, ttgt) = _inputs((S, N, E), (T, N, E))
    tgt_mask, tgt_pad = _masks(chainrule, T, N, T)
    ttgt_mask, ttgt_pad = _masks(torch, T, N, T)
    _, src_pad = _masks(chainrule, S, N, S)
    _, tsrc_pad = _masks(torch, S, N, S)
    out = ours(src, tgt, tgt_mask=tgt_mask, src_key_padding_mask=src_pad, tgt_key_padding_mask=tgt_pad,
               memory_key_padding_mask=src_pad)
    tout = theirs(tsrc, ttgt, tgt_mask=ttgt_mask, src_key_padding_mask=tsrc_pad, tgt_key_padding_mask=ttgt_pad,
                  memory_key_padding_mask=tsrc_pad)
    _compare(out, tout, [src, tgt], [tsrc, ttgt], ours, theirs)


def test_decoder_layer_norm_first_with_a_boolean_memory_mask_matches_pytorch():
    ours, theirs = _pair(lambda lib: lib.nn.TransformerDecoderLayer(E, H, dim_feedforward=16, dropout=0.0,
                                                                    norm_first=True, batch_first=True))
    (tgt, mem), (ttgt, tmem) = _inputs((N, T, E), (N, S, E))
    mm = chainrule.zeros(T, S, dtype=chainrule.bool)
    mm[0, :2] = True
    tmm = torch.zeros(T, S, dtype=torch.bool)
    tmm[0, :2] = True
    _compare(ours(tgt, mem, memory_mask=mm), theirs(ttgt, tmem, memory_mask=tmm), [tgt, mem], [ttgt, tmem],
             ours, theirs)


def test_a_program_may_subclass_transformer():
    for lib in (chainrule, torch):
        class Model(lib.nn.Transformer):
            def __init__(self):
                super().__init__(d_model=E, nhead=H, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=8)
                self.head = lib.nn.Linear(E, 3)

            def forward(self, src, tgt):
                mask = self.generate_square_subsequent_mask(len(tgt))
                return self.head(super().forward(src, tgt, tgt_mask=mask))
        assert tuple(Model()(lib.randn(S, N, E), lib.randn(T, N, E)).shape) == (T, N, 3)


def test_generate_square_subsequent_mask_and_default_initialisation_are_pytorchs():
    assert chainrule.nn.Transformer.generate_square_subsequent_mask(4).tolist() == \
        torch.nn.Transformer.generate_square_subsequent_mask(4).tolist()
    model = chainrule.nn.Transformer(d_model=E, nhead=H, num_encoder_layers=1, num_decoder_layers=1)
    w = model.encoder.layers[0].linear1.weight      # xavier_uniform_: U(-a, a), a = sqrt(6 / (fan_in + fan_out))
    bound = (6 / (E + 2048)) ** 0.5
    assert float(w.abs().max()) <= bound and float(w.abs().max()) > 0.9 * bound
    stack = chainrule.nn.TransformerEncoder(chainrule.nn.TransformerEncoderLayer(E, H, 8), num_layers=2)
    first, second = stack.layers[0].linear1.weight, stack.layers[1].linear1.weight
    assert first is not second and first.tolist() == second.tolist()   # deep copies of one layer, as in PyTorch


def test_mismatched_inputs_raise_pytorchs_errors():
    for lib in (chainrule, torch):
        model = lib.nn.Transformer(d_model=E, nhead=H, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=8)
        with pytest.raises(RuntimeError, match="the batch number of src and tgt must be equal"):
            model(lib.randn(S, 2, E), lib.randn(T, 3, E))
        with pytest.raises(RuntimeError, match="the feature number of src and tgt must be equal to d_model"):
            model(lib.randn(S, 2, E + 1), lib.randn(T, 2, E + 1))
        with pytest.raises(RuntimeError, match="activation should be relu/gelu, not tanh"):
            lib.nn.TransformerEncoderLayer(E, H, activation="tanh")


def test_module_paths_are_pytorchs():
    from chainrule.nn.modules.transformer import Transformer, TransformerEncoderLayer
    assert Transformer is chainrule.nn.Transformer and TransformerEncoderLayer is chainrule.nn.TransformerEncoderLayer


def _eval_outputs(ours, theirs, x, tx, padding, mask=None, grad=False):
    """Both stacks' outputs in eval mode (under no_grad unless ``grad``) for one padding mask."""
    ours.eval()
    theirs.eval()
    kw = dict(mask=None if mask is None else chainrule.tensor(mask))
    tkw = dict(mask=None if mask is None else torch.tensor(mask))
    with chainrule.set_grad_enabled(grad), torch.set_grad_enabled(grad):
        out = ours(x, src_key_padding_mask=chainrule.tensor(padding), **kw)
        tout = theirs(tx, src_key_padding_mask=torch.tensor(padding), **tkw)
    return out.detach().numpy(), tout.detach().numpy()


@pytest.mark.parametrize("padding_kind", ["bool", "float"])
def test_encoder_in_eval_mode_zeroes_padded_positions_as_pytorchs_fast_path_does(padding_kind):
    def make(lib):
        layer = lib.nn.TransformerEncoderLayer(E, H, dim_feedforward=16, dropout=0.1, batch_first=True)
        return lib.nn.TransformerEncoder(layer, num_layers=2, norm=lib.nn.LayerNorm(E))
    ours, theirs = _pair(make)
    with torch.no_grad():   # a norm whose bias is not zero, so "zero before the norm" shows
        theirs.norm.bias.uniform_(-1, 1)
    ours.norm.bias.data = chainrule.tensor(theirs.norm.bias.detach().numpy())
    assert ours.use_nested_tensor and theirs.use_nested_tensor
    (x,), (tx,) = _inputs((3, S, E))
    left_aligned = np.zeros((3, S), bool)
    left_aligned[1, 3:] = True
    left_aligned[2, :] = True                           # a row with no real position at all
    if padding_kind == "float":
        left_aligned = np.where(left_aligned, -np.inf, 0.0)
    ours_out, theirs_out = _eval_outputs(ours, theirs, x, tx, left_aligned)
    np.testing.assert_allclose(ours_out, theirs_out, rtol=1e-9, atol=1e-10)
    padded = left_aligned != 0
    assert np.allclose(theirs_out[padded], theirs.norm(torch.zeros(E, dtype=torch.float64)).detach().numpy())

    # Where PyTorch does not take the fast path, the padded positions are computed as in training mode:
    # a padding mask that is not left aligned, an attention mask beside it, gradients on, the switch off.
    not_left_aligned = np.zeros((3, S), bool)
    not_left_aligned[1, 0] = True
    causal = np.triu(np.ones((S, S), bool), 1)
    for padding, mask, grad in [(not_left_aligned, None, False), (padded, causal, False), (padded, None, True)]:
        ours_out, theirs_out = _eval_outputs(ours, theirs, x, tx, padding, mask, grad)
        keep = ~padding.all(1)   # a row with every key padded gives NaN or 0 depending on the kernel
        np.testing.assert_allclose(ours_out[keep], theirs_out[keep], rtol=1e-9, atol=1e-10)
        assert not np.allclose(theirs_out[padding & keep[:, None]], 0)
    torch.backends.mha.set_fastpath_enabled(False)
    chainrule.backends.mha.set_fastpath_enabled(False)
    try:
        ours_out, theirs_out = _eval_outputs(ours, theirs, x, tx, padded)
        np.testing.assert_allclose(ours_out[:2], theirs_out[:2], rtol=1e-9, atol=1e-10)
        assert not np.allclose(theirs_out[1, 3:], theirs_out[2, 0])
    finally:
        torch.backends.mha.set_fastpath_enabled(True)
        chainrule.backends.mha.set_fastpath_enabled(True)


@pytest.mark.parametrize("make_layer,reason", [
    (lambda lib: lib.nn.TransformerEncoderLayer(E, H, batch_first=False), "batch_first was not True"),
    (lambda lib: lib.nn.TransformerEncoderLayer(E, H, batch_first=True, norm_first=True), "norm_first was True"),
    (lambda lib: lib.nn.TransformerEncoderLayer(E, H, batch_first=True, activation=lib.tanh),
     "activation_relu_or_gelu was not True"),
    (lambda lib: lib.nn.TransformerEncoderLayer(E, 1, batch_first=True), "num_heads is odd"),
])
def test_encoder_says_why_it_cannot_take_the_fast_path_as_pytorch_does(make_layer, reason):
    for lib in (chainrule, torch):
        with pytest.warns(UserWarning, match=reason):
            stack = lib.nn.TransformerEncoder(make_layer(lib), num_layers=1)
        assert stack.use_nested_tensor is False
        assert lib.nn.TransformerEncoder(make_layer(lib), 1, enable_nested_tensor=False).use_nested_tensor is False
