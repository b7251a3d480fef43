"""Zero-size tensors: every op PyTorch defines on them gives the same shapes, dtypes and gradients
here, and where PyTorch raises (a reduction with no identity over nothing), chainrule raises too."""
import pytest

from oracle import assert_same_outcome


def with_grad(f, *shapes):
    """A case: ``f(lib, *inputs)`` on zero-filled float64 inputs of ``shapes`` that require grad;
    returns the output and each input's gradient after ``output.sum().backward()``."""
    def run(lib):
        xs = [lib.zeros(*s, dtype=lib.float64, requires_grad=True) for s in shapes]
        y = f(lib, *xs)
        y.sum().backward()
        return [y] + [x.grad for x in xs]
    return run


F = lambda lib: lib.nn.functional   # noqa: E731

CASES = {
    "softmax_over_empty_dim": with_grad(lambda lib, x: x.softmax(1), (2, 0)),
    "log_softmax_over_empty_dim": with_grad(lambda lib, x: x.log_softmax(1), (2, 0)),
    "softmin_over_empty_dim": with_grad(lambda lib, x: F(lib).softmin(x, 1), (2, 0)),
    "softmax_empty_batch": with_grad(lambda lib, x: x.softmax(1), (0, 3)),
    "argmax_nonempty_dim": lambda lib: lib.zeros(0, 3).argmax(1),
    "argmin_keepdim": lambda lib: lib.zeros(0, 3).argmin(1, keepdim=True),
    "argmax_empty_dim": lambda lib: lib.zeros(0, 3).argmax(0),
    "argmax_all": lambda lib: lib.zeros(0, 3).argmax(),
    "amax_nonempty_dim": with_grad(lambda lib, x: x.amax(1), (0, 3)),
    "amax_empty_dim": lambda lib: lib.zeros(0, 3).amax(0),
    "amax_all": lambda lib: lib.zeros(0, 3).amax(),
    "amin_dims": lambda lib: lib.zeros(0, 3).amin((0, 1)),
    "max_all": lambda lib: lib.zeros(0).max(),
    "min_all": lambda lib: lib.zeros(0).min(),
    "max_dim": with_grad(lambda lib, x: x.max(1).values, (0, 3)),
    "max_empty_dim": lambda lib: lib.zeros(0, 3).max(0),
    "median_all": lambda lib: lib.zeros(0).median(),
    "median_dim": lambda lib: lib.zeros(0, 3).median(1),
    "sum_mean_prod": with_grad(lambda lib, x: x.sum(0) + x.mean(0) + x.prod(0), (0, 3)),
    "logsumexp_empty_dim": with_grad(lambda lib, x: x.logsumexp(0), (0, 3)),
    "norm_empty_dim": with_grad(lambda lib, x: x.norm(dim=0), (0, 3)),
    "batchnorm_training_empty_batch": lambda lib: _batchnorm(lib),
    "groupnorm_empty_batch": with_grad(lambda lib, x: lib.nn.GroupNorm(1, 3).double()(x), (0, 3, 2)),
    "layernorm_empty_batch": with_grad(lambda lib, x: F(lib).layer_norm(x, (3,)), (0, 3)),
    "flatten_keeps_zero_dim": with_grad(lambda lib, x: x.flatten(1), (0, 3, 2)),
    "flatten_all": with_grad(lambda lib, x: x.flatten(), (2, 0, 2)),
    "flatten_middle": with_grad(lambda lib, x: x.flatten(0, 1), (2, 0, 2)),
    "unflatten_zero": with_grad(lambda lib, x: x.unflatten(1, (2, 3)), (0, 6)),
    "unflatten_infer_from_dim": with_grad(lambda lib, x: x.unflatten(1, (-1, 3)), (0, 6)),
    "unflatten_infer_in_empty_dim": with_grad(lambda lib, x: x.unflatten(1, (-1, 3)), (2, 0)),
    "unflatten_ambiguous": lambda lib: lib.zeros(2, 0).unflatten(1, (0, -1)),
    "reshape_ambiguous": lambda lib: lib.zeros(0, 3).reshape(0, -1),
    "cat_with_empty_gets_zero_grad": with_grad(lambda lib, a, e: lib.cat([a, e]), (2,), (0,)),
    "cat_empty_2d": with_grad(lambda lib, a, e: lib.cat([a, e], 0), (2, 3), (0, 3)),
    "stack_empty": with_grad(lambda lib, a, b: lib.stack([a, b]), (0, 3), (0, 3)),
    "chunk_empty_dim": lambda lib: lib.zeros(0, 3).chunk(2, 0),
    "split_empty_dim": lambda lib: lib.zeros(0, 3).split(2, 0),
    "einsum_diagonal": with_grad(lambda lib, x: lib.einsum("ii->i", x), (0, 0)),
    "einsum_diagonal_nonempty": with_grad(lambda lib, x: lib.einsum("ii->i", x), (3, 3)),
    "einsum_trace": with_grad(lambda lib, x: lib.einsum("ii", x), (3, 3)),
    "matmul_empty_inner": with_grad(lambda lib, a, b: a @ b, (2, 0), (0, 3)),
    "matmul_empty_outer": with_grad(lambda lib, a, b: a @ b, (0, 2), (2, 3)),
    "index_select_empty_index": lambda lib: lib.zeros(0, 3).index_select(1, lib.tensor([], dtype=lib.long)),
    "cross_entropy_empty_batch": lambda lib: F(lib).cross_entropy(lib.zeros(0, 3), lib.zeros(0, dtype=lib.long)),
    "mse_empty": lambda lib: F(lib).mse_loss(lib.zeros(0), lib.zeros(0)),
    "linear_empty_batch": lambda lib: _linear(lib),
    "var_empty_dim": lambda lib: lib.zeros(0, 3).var(0),
    "cumsum_sort_flip_roll": with_grad(lambda lib, x: x.cumsum(0) + x.sort(0).values + x.flip(0) + x.roll(1, 0), (0, 3)),
    "where_empty": with_grad(lambda lib, x: lib.where(x > 0, x, 1.0), (0, 3)),
    "masked_select_empty": lambda lib: lib.zeros(0, 3).masked_select(lib.zeros(0, 3) > 0),
}


def _batchnorm(lib):
    bn = lib.nn.BatchNorm1d(3).double()
    bn.running_mean.fill_(1.0)
    x = lib.zeros(0, 3, dtype=lib.float64, requires_grad=True)
    y = bn(x)
    y.sum().backward()
    return [y, x.grad, bn.weight.grad, bn.bias.grad, bn.running_mean, bn.running_var]


def _linear(lib):
    lin = lib.nn.Linear(3, 2).double()
    x = lib.zeros(0, 3, dtype=lib.float64, requires_grad=True)
    y = lin(x)
    y.sum().backward()
    return [y, x.grad, lin.weight.grad, lin.bias.grad]


@pytest.mark.parametrize("name", CASES)
def test_zero_size_matches_torch(name):
    assert_same_outcome(CASES[name])
