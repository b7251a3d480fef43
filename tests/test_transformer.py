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
