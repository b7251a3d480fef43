"""Names PyTorch programs reach for, checked against PyTorch: NumPy's argument names on reductions,
``range`` indexing, f-string formatting of tensors."""
import warnings

import pytest
import torch

import chainrule
from oracle import check, nograd

REDUCTIONS = ["sum", "mean", "amax", "amin", "prod", "std", "var", "logsumexp", "nansum"]


@pytest.mark.parametrize("name", REDUCTIONS)
def test_keepdims_and_axis_are_numpys_names_for_keepdim_and_dim(name):
    check(lambda lib, x: getattr(lib, name)(x, axis=1, keepdims=True), [(3, 4)])
    check(lambda lib, x: getattr(x, name)(1, keepdims=True), [(3, 4)])


@pytest.mark.parametrize("name", ["max", "min", "median"])
def test_keepdims_on_reductions_that_return_values_and_indices(name):
    check(lambda lib, x: tuple(getattr(lib, name)(x, axis=0, keepdims=True)), [(3, 4)])


@pytest.mark.parametrize("name", ["argmax", "argmin", "all", "any"])
def test_keepdims_on_index_and_boolean_reductions(name):
    check(lambda lib, x: getattr(lib, name)(x > 0, axis=1, keepdims=True) if name in ("all", "any")
          else getattr(lib, name)(x, axis=1, keepdims=True), [nograd([[1., -2., 3.], [0., 5., -1.]])], grad=False)


def test_var_mean_and_std_mean_take_keepdims():
    check(lambda lib, x: tuple(lib.var_mean(x, 0, keepdims=True)), [(3, 4)])
    check(lambda lib, x: tuple(lib.std_mean(x, 0, keepdims=True)), [(3, 4)])


def test_an_argument_and_its_numpy_alias_together_is_an_error():
    with pytest.raises(TypeError, match="keepdim"):
        chainrule.ones(2, 2).sum(1, keepdim=True, keepdims=True)


def test_indexing_with_a_range_reads_and_assigns_as_pytorch_does():
    # The lecture-notebook idiom: logprobs[range(n), Yb]
    check(lambda lib, x: x[range(4), nograd_targets(lib)], [(4, 5)])
    check(lambda lib, x: x[range(1, 3)], [(4, 5)])
    check(lambda lib, x: x[:, range(0, 5, 2)], [(4, 5)])
    for lib in (chainrule, torch):
        y = lib.zeros(3, 4)
        y[range(3), [0, 1, 2]] = 1.0
        y[range(0)] = 5.0                        # an empty range selects nothing
        assert y.tolist() == [[1., 0., 0., 0.], [0., 1., 0., 0.], [0., 0., 1., 0.]]
    assert chainrule.zeros(3, 4)[range(0)].shape == torch.zeros(3, 4)[range(0)].shape == (0, 4)


def nograd_targets(lib):
    return lib.tensor([1, 0, 4, 2])


def test_indexing_with_a_range_backpropagates_into_the_picked_entries():
    def nll(lib, logits):
        logprobs = logits.log_softmax(1)
        return -logprobs[range(4), nograd_targets(lib)].mean()
    check(nll, [(4, 5)])


@pytest.mark.parametrize("value", [2.5, 3, True, 1 / 3, -0.0])
@pytest.mark.parametrize("spec", ["", ".4f", "8.2f", "e"])
def test_a_0d_tensor_formats_as_its_number(value, spec):
    if isinstance(value, bool) and spec in ("e",):
        spec = ".1f"
    assert format(chainrule.tensor(value), spec) == format(torch.tensor(value), spec)
    assert f"{chainrule.tensor(value)}" == f"{torch.tensor(value)}"


def test_a_tensor_with_dimensions_formats_as_its_repr_and_refuses_a_number_format():
    assert f"{chainrule.tensor([1.0, 2.0])}" == f"{torch.tensor([1.0, 2.0])}" == "tensor([1., 2.])"
    with pytest.raises(TypeError):
        format(chainrule.tensor([1.0, 2.0]), ".4f")
    x = chainrule.tensor(2.0, requires_grad=True) * 3
    assert f"loss {x:.3f}" == "loss 6.000"


HIST_DATA = [1.0, 2.0, 1.0, 4.0, 2.5, 7.0, -1.0, 0.0, 3.0, 4.0, float("nan")]


@pytest.mark.parametrize("kwargs", [dict(bins=4, min=0, max=4), dict(bins=3), dict(bins=5, min=-2, max=2),
                                    dict(bins=7, min=1.5, max=1.5)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_histc_matches_pytorch(kwargs, dtype):
    data = HIST_DATA if kwargs.get("min", 0) != kwargs.get("max", 0) else HIST_DATA[:-1]   # see below
    check(lambda lib, x: lib.histc(x.to(getattr(lib, dtype)), **kwargs), [nograd(data)], grad=False)
    check(lambda lib, x: x.to(getattr(lib, dtype)).histc(**kwargs), [nograd(data)], grad=False)


def test_histc_over_the_data_range_refuses_a_nan_as_pytorch_does():
    with pytest.raises(RuntimeError, match="is not finite"):
        chainrule.histc(chainrule.tensor(HIST_DATA), bins=3)


def test_histc_of_equal_values_widens_the_range_by_one_each_way():
    check(lambda lib, x: lib.histc(x, bins=3), [nograd([2.0, 2.0, 2.0])], grad=False)


def test_histc_result_does_not_require_grad():
    x = chainrule.tensor([1.0, 2.0], requires_grad=True)
    assert not chainrule.histc(x, bins=2).requires_grad


@pytest.mark.parametrize("make", [lambda lib: dict(bins=4), lambda lib: dict(bins=3, range=(0.0, 3.0)),
                                  lambda lib: dict(bins=lib.tensor([0.0, 1.0, 3.0, 10.0])),
                                  lambda lib: dict(bins=3, range=(0.0, 3.0), weight=lib.arange(10.0), density=True),
                                  lambda lib: dict(bins=lib.tensor([-1.0, 2.0, 4.0]), density=True)])
def test_histogram_matches_pytorch(make):
    check(lambda lib, x: tuple(lib.histogram(x.float(), **make(lib))), [nograd(HIST_DATA[:-1])], grad=False,
          rtol=1e-6)


def test_histogram_returns_named_fields():
    hist, edges = chainrule.histogram(chainrule.tensor([0.0, 1.0, 1.0]), bins=2)
    named = chainrule.histogram(chainrule.tensor([0.0, 1.0, 1.0]), bins=2)
    assert named.hist.tolist() == hist.tolist() == [1.0, 2.0] and named.bin_edges.tolist() == [0.0, 0.5, 1.0]


def test_histograms_of_integers_are_refused_as_pytorch_refuses_them():
    for fn in (lambda lib: lib.histc(lib.tensor([1, 2]), bins=2), lambda lib: lib.histogram(lib.tensor([1, 2]), 2)):
        with pytest.raises(NotImplementedError) as ours:
            fn(chainrule)
        with pytest.raises(NotImplementedError) as theirs:
            fn(torch)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(RuntimeError, match="max must be larger than min"):
        chainrule.histc(chainrule.tensor([1.0]), bins=2, min=3, max=1)


def test_accelerator_answers_as_cpu_only_pytorch():
    # Current official examples pick their device with torch.accelerator before anything else.
    for lib in (torch, chainrule):
        assert lib.accelerator.is_available() is False
        assert lib.accelerator.current_accelerator() is None
        assert lib.accelerator.current_accelerator(check_available=True) is None
        assert lib.accelerator.device_count() == 0
    for name in ("current_device_index", "synchronize"):
        with pytest.raises(RuntimeError) as theirs:
            getattr(torch.accelerator, name)()
        with pytest.raises(RuntimeError) as ours:
            getattr(chainrule.accelerator, name)()
        assert str(ours.value) == str(theirs.value)


def test_the_global_generator_starts_from_a_fresh_seed_in_each_process_as_in_torch():
    # The lecture notebook draws its minibatches from the unseeded global generator: in PyTorch every run
    # draws others. A new Generator() starts from the same fixed seed in both libraries.
    import subprocess
    import sys
    for lib in ("torch", "chainrule"):
        code = f"import {lib}; print({lib}.initial_seed(), {lib}.Generator().initial_seed())"
        runs = [subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
                for _ in range(2)]
        (global_1, fixed_1), (global_2, fixed_2) = (r.split() for r in runs)
        assert global_1 != global_2, lib
        assert fixed_1 == fixed_2 == "67280421310721", lib


@pytest.mark.parametrize("name", ["add", "sub", "add_", "sub_"])
def test_the_deprecated_alpha_first_order_still_works_as_in_torch(name):
    # Older training scripts step with p.data.add_(-lr, p.grad.data); PyTorch 2.13 still takes it.
    results = []
    for lib in (torch, chainrule):
        x = lib.tensor([1.0, 2.0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = getattr(x, name)(-0.5, lib.tensor([4.0, 8.0]))
        results.append((out.tolist(), x.tolist()))
    assert results[0] == results[1]
    with pytest.raises(TypeError, match="takes 1 positional argument but 2 were given"):
        getattr(chainrule.ones(2), name)(chainrule.ones(2), 2)


def test_the_deprecated_alpha_first_order_warns_once_per_process_as_in_torch():
    import subprocess
    import sys
    code = ("import warnings; warnings.simplefilter('always'); import {0}; x = {0}.ones(2)\n"
            "with warnings.catch_warnings(record=True) as w:\n"
            "    warnings.simplefilter('always'); x.add_(-1, x); x.sub(2, x); x.add(3, x)\n"
            "print([str(m.message).splitlines()[0] for m in w])")
    outs = [subprocess.run([sys.executable, "-c", code.format(lib)], capture_output=True, text=True,
                           check=True).stdout for lib in ("torch", "chainrule")]
    assert outs[0] == outs[1] == "['This overload of add_ is deprecated:']\n"


@pytest.mark.parametrize("index", [0, 3, -1, -2, (0,), (None, 0), slice(0, 1), None, Ellipsis, (), True])
def test_indexing_a_0d_tensor_fails_or_works_as_in_torch(index):
    # loss.data[0] (older scripts) must say what PyTorch says: use item().
    outcomes = []
    for lib in (torch, chainrule):
        try:
            outcomes.append(lib.tensor(1.5)[index].tolist())
        except IndexError as e:
            outcomes.append(str(e))
    assert outcomes[0] == outcomes[1]
