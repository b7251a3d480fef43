"""scaled_dot_product_attention and MultiheadAttention against PyTorch (float64, forward and gradients)."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402
from chainrule.nn.functional_attention import scaled_dot_product_attention  # noqa: E402
from chainrule.nn import MultiheadAttention  # noqa: E402
from oracle import assert_same, check, nograd  # noqa: E402

TF = torch.nn.functional


def sdpa(**kwargs):
    return dict(fn=lambda lib, *a: scaled_dot_product_attention(*a, **kwargs),
                torch_fn=lambda lib, *a: TF.scaled_dot_product_attention(*a, **kwargs))


@pytest.mark.parametrize("shapes,kwargs", [
    (((2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 7)), {}),
    (((1, 5, 4), (1, 5, 4), (1, 5, 4)), dict(is_causal=True)),
    (((2, 2, 4, 3), (2, 2, 6, 3), (2, 2, 6, 3)), dict(is_causal=True)),   # L < S: top-left aligned
    (((2, 4, 3), (2, 5, 3), (2, 5, 2)), dict(scale=0.3)),
])
def test_sdpa_matches_torch(shapes, kwargs):
    fns = sdpa(**kwargs)
    check(fns["fn"], list(shapes), torch_fn=fns["torch_fn"])


def test_sdpa_masks_match_torch():
    rng = np.random.default_rng(0)
    bool_mask = rng.random((5, 6)) > 0.3
    bool_mask[:, 0] = True
    float_mask = rng.standard_normal((2, 1, 5, 6))
    for mask in (nograd(bool_mask), nograd(float_mask)):
        check(lambda lib, q, k, v, m: (scaled_dot_product_attention if lib is chainrule else
                                       TF.scaled_dot_product_attention)(q, k, v, attn_mask=m),
              [(2, 3, 5, 4), (2, 3, 6, 4), (2, 3, 6, 4), mask])


def test_sdpa_fully_masked_row_gives_zeros_like_torch():
    mask = np.ones((3, 4), dtype=bool)
    mask[1] = False   # query 1 may attend to nothing
    check(lambda lib, q, k, v, m: (scaled_dot_product_attention if lib is chainrule else
                                   TF.scaled_dot_product_attention)(q, k, v, attn_mask=m),
          [(2, 3, 5), (2, 4, 5), (2, 4, 5), nograd(mask)])


def test_sdpa_causal_and_mask_together_is_an_error():
    q = chainrule.zeros(1, 2, 3)
    with pytest.raises(RuntimeError, match="attn_mask should not be set when is_causal"):
        scaled_dot_product_attention(q, q, q, attn_mask=chainrule.ones(2, 2, dtype=chainrule.bool), is_causal=True)


def _pair(*args, **kwargs):
    chainrule.manual_seed(0)
    m = MultiheadAttention(*args, **kwargs).double()
    t = torch.nn.MultiheadAttention(*args, **kwargs).double()
    th_params = dict(t.named_parameters())
    assert sorted(n for n, _ in m.named_parameters()) == sorted(th_params)
    rng = np.random.default_rng(3)
    for n, p in m.named_parameters():   # random biases too, so they are exercised
        value = p.detach().numpy() + 0.1 * rng.standard_normal(p.shape)
        with chainrule.no_grad():
            p.copy_(chainrule.tensor(value))
        th_params[n].data = torch.tensor(value.copy())
    return m, t


def _compare(m, t, arrays, **kwargs):
    cr_in = [chainrule.tensor(a, requires_grad=True) for a in arrays]
    th_in = [torch.tensor(a, requires_grad=True) for a in arrays]
    th_kwargs = {k: torch.tensor(v.numpy()) if isinstance(v, chainrule.Tensor) else v for k, v in kwargs.items()}
    out, w = m(*cr_in, **kwargs)
    out_t, w_t = t(*th_in, **th_kwargs)
    assert_same(out, out_t, "attn_output")
    if w_t is None:
        assert w is None
    else:
        assert_same(w, w_t, "attn_weights")
    rng = np.random.default_rng(1)
    up = rng.standard_normal(tuple(out_t.shape))
    loss = (out * chainrule.tensor(up)).sum() + (0 if w is None else (w * w).sum())
    loss_t = (out_t * torch.tensor(up)).sum() + (0 if w_t is None else (w_t * w_t).sum())
    loss.backward()
    loss_t.backward()
    for i, (a, b) in enumerate(zip(cr_in, th_in)):
        assert_same(a.grad, b.grad, f"grad of input {i}")
    th_params = dict(t.named_parameters())
    for n, p in m.named_parameters():
        assert_same(p.grad, th_params[n].grad, f"grad of {n}")


@pytest.mark.parametrize("kwargs", [dict(), dict(need_weights=False), dict(average_attn_weights=False)])
@pytest.mark.parametrize("batch", [1, 3])
def test_mha_matches_torch(kwargs, batch):
    m, t = _pair(8, 2)
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((5, batch, 8)), rng.standard_normal((6, batch, 8))
    _compare(m, t, [q, k, rng.standard_normal((6, batch, 8))], **kwargs)


def test_mha_masks_batch_first_and_self_attention():
    m, t = _pair(6, 3, batch_first=True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 6))
    causal = chainrule.tensor(np.triu(np.ones((4, 4), dtype=bool), 1))
    padding = chainrule.tensor(np.array([[False, False, False, True], [False, False, False, False]]))
    _compare(m, t, [x, x, x], attn_mask=causal, key_padding_mask=padding)
    float_mask = chainrule.tensor(rng.standard_normal((4, 4)))
    _compare(m, t, [x, x, x], attn_mask=float_mask, need_weights=False)


@pytest.mark.parametrize("kwargs", [dict(kdim=5, vdim=3), dict(bias=False), dict(add_bias_kv=True),
                                    dict(add_zero_attn=True)])
def test_mha_options_match_torch(kwargs):
    m, t = _pair(4, 2, **kwargs)
    rng = np.random.default_rng(0)
    k = rng.standard_normal((3, 2, kwargs.get("kdim", 4)))
    v = rng.standard_normal((3, 2, kwargs.get("vdim", 4)))
    _compare(m, t, [rng.standard_normal((5, 2, 4)), k, v])


def test_mha_unbatched():
    m, t = _pair(4, 2)
    rng = np.random.default_rng(0)
    _compare(m, t, [rng.standard_normal((3, 4)), rng.standard_normal((5, 4)), rng.standard_normal((5, 4))])


def test_mha_errors():
    with pytest.raises(AssertionError, match="divisible by num_heads"):
        MultiheadAttention(6, 4)
    m = MultiheadAttention(4, 2)
    x = chainrule.zeros(3, 1, 4)
    with pytest.raises(RuntimeError, match="Need attn_mask if specifying the is_causal hint"):
        m(x, x, x, is_causal=True)
    with pytest.raises(RuntimeError, match="2D attn_mask"):
        m(x, x, x, attn_mask=chainrule.zeros(2, 3))
