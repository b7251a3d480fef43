"""chainrule.save / chainrule.load: exact round trips in both formats, atomic writes, clear errors.

The default format is PyTorch's (``test_serialization_torch.py`` checks it against real PyTorch);
``format="chainrule"`` is chainrule's own, never pickled. ``test_serialization_hostile.py`` feeds both
broken and hostile files.
"""

import io
import math
import os
import pathlib
import pickle

import numpy as np
import pytest

import chainrule
from chainrule.serialization import CheckpointError, load, save

FORMATS = ["pytorch", "chainrule"]


def _np(t):
    return t.detach().numpy()


def assert_identical(a, b):
    """Same structure, same Python types, tensors equal bit for bit with the same dtype and flag."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, chainrule.Tensor):
        assert a.dtype == b.dtype and tuple(a.shape) == tuple(b.shape)
        assert a.requires_grad == b.requires_grad
        assert _np(a).tobytes() == _np(b).tobytes()
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for key in a:
            assert type(key) is type(next(k for k in b if k == key))
            assert_identical(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            assert_identical(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b


def _model_and_optimizer_state():
    """A realistic checkpoint: model weights plus an Adam state_dict mid-run (int keys)."""
    from chainrule import optim

    rng = np.random.default_rng(0)
    w = chainrule.tensor(rng.standard_normal((4, 3)).astype(np.float32), requires_grad=True)
    b = chainrule.tensor(rng.standard_normal(3).astype(np.float32), requires_grad=True)
    opt = optim.Adam([w, b], lr=1e-3, amsgrad=True)
    for _ in range(3):
        w.grad = chainrule.tensor(rng.standard_normal((4, 3)).astype(np.float32))
        b.grad = chainrule.tensor(rng.standard_normal(3).astype(np.float32))
        opt.step()
    return {
        "model": {"layer.weight": w.detach(), "layer.bias": b.detach()},
        "optimizer": opt.state_dict(),
        "epoch": 7,
        "best_loss": 0.1 + 0.2,
        "history": [1.5, float("inf"), -0.0, float("nan")],
        "note": "ünïcode ✓",
        "flags": (True, False, None),
        "big": 2 ** 70,
        "int_keys": {0: "zero", -3: "neg", 1.5: "float key", (1, "a"): "tuple key", None: 0},
        "empty": {"list": [], "tuple": (), "dict": {}},
    }


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_of_a_training_checkpoint_is_exact(tmp_path, fmt):
    obj = _model_and_optimizer_state()
    path = tmp_path / "ckpt.pt"
    save(obj, path, format=fmt)
    loaded = load(path)
    assert_identical(obj, loaded)
    # Optimizer state keeps PyTorch's layout: int keys, index lists.
    assert list(loaded["optimizer"]["state"]) == [0, 1]
    assert loaded["optimizer"]["param_groups"][0]["params"] == [0, 1]
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)


def test_the_default_format_is_pytorchs_and_chainrules_is_on_request(tmp_path):
    save({"w": chainrule.ones(2)}, tmp_path / "a.pt")
    save({"w": chainrule.ones(2)}, tmp_path / "b.pt", format="chainrule")
    assert (tmp_path / "a.pt").read_bytes()[:4] == b"PK\x03\x04"
    assert (tmp_path / "b.pt").read_bytes()[:8] == b"\x89CHAINR\n"
    with pytest.raises(ValueError, match="format must be one of"):
        save(1, tmp_path / "c.pt", format="json")


DTYPES = ["float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool"]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3, 4), (1, 0, 2)])
def test_tensor_round_trip_any_dtype_and_shape(tmp_path, dtype, shape, fmt):
    rng = np.random.default_rng(1)
    array = np.asarray(rng.standard_normal(shape) * 100).astype(np.dtype(dtype))
    tensor = chainrule.from_numpy(array)
    if dtype.startswith("float"):
        tensor.requires_grad_(True)
    save({"t": tensor}, str(tmp_path / "t.pt"), format=fmt)
    loaded = load(str(tmp_path / "t.pt"))
    assert_identical(loaded["t"], tensor)
    assert loaded["t"].is_leaf


@pytest.mark.parametrize("dtype", DTYPES)
def test_numpy_arrays_round_trip_in_chainrules_format(tmp_path, dtype):
    array = (np.arange(12).reshape(3, 4) * 7).astype(dtype)
    save({"a": array}, tmp_path / "a.pt", format="chainrule")
    assert_identical(load(tmp_path / "a.pt")["a"], array)


def test_numpy_arrays_in_pytorch_format_need_weights_only_false_or_an_allow_list(tmp_path):
    # As in PyTorch: a NumPy array pickles through numpy's own globals, which weights_only refuses.
    array = np.arange(6.0).reshape(2, 3)
    save({"a": array}, tmp_path / "a.pt")
    with pytest.raises(pickle.UnpicklingError, match="Unsupported global: GLOBAL numpy"):
        load(tmp_path / "a.pt")
    assert_identical(load(tmp_path / "a.pt", weights_only=False)["a"], array)


def test_the_same_tensor_twice_loads_as_one_object_in_pytorch_format(tmp_path):
    # Pickle keeps identity (PyTorch's behaviour); chainrule's format stores each occurrence apart.
    t = chainrule.tensor([1.0, 2.0, 3.0])
    save([t, t], tmp_path / "x")
    a, b = load(tmp_path / "x")
    assert a is b
    a.add_(1)
    np.testing.assert_array_equal(_np(b), [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(_np(t), [1.0, 2.0, 3.0])   # loaded memory is the file's, not the saver's
    save([t, t], tmp_path / "y", format="chainrule")
    a, b = load(tmp_path / "y")
    a.add_(1)
    np.testing.assert_array_equal(_np(b), [1.0, 2.0, 3.0])


def test_big_endian_and_non_contiguous_arrays(tmp_path):
    big = np.arange(6, dtype=">f8").reshape(2, 3)
    strided = np.arange(20, dtype=np.int64).reshape(4, 5)[::2, 1::2]
    save({"big": big, "strided": strided}, tmp_path / "x", format="chainrule")
    loaded = load(tmp_path / "x")
    np.testing.assert_array_equal(loaded["big"], big)
    assert loaded["big"].dtype == np.float64
    np.testing.assert_array_equal(loaded["strided"], strided)


@pytest.mark.parametrize("fmt", FORMATS)
def test_file_objects_and_pathlike(tmp_path, fmt):
    obj = {"x": chainrule.tensor([1.0, 2.0]), "n": 3}
    buffer = io.BytesIO()
    save(obj, buffer, format=fmt)
    buffer.seek(0)
    assert_identical(load(buffer), obj)
    save(obj, pathlib.Path(tmp_path) / "p.pt", format=fmt)
    assert_identical(load(pathlib.Path(tmp_path) / "p.pt", map_location="cpu", weights_only=True), obj)


def test_a_checkpoint_inside_a_larger_stream_is_read_from_the_current_position():
    buffer = io.BytesIO()
    buffer.write(b"some header the program wrote first")
    start = buffer.tell()
    save({"x": chainrule.tensor([4.0, 5.0])}, buffer)
    buffer.seek(start)
    assert _np(load(buffer)["x"]).tolist() == [4.0, 5.0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_pytorch_keyword_arguments_are_harmless(tmp_path, fmt):
    save([1, 2], tmp_path / "k.pt", format=fmt)
    assert load(tmp_path / "k.pt", map_location=lambda s, loc: s, weights_only=False, mmap=False) == [1, 2]


def test_chainrule_format_refuses_what_it_cannot_hold_naming_where(tmp_path):
    with pytest.raises(TypeError, match=r"obj\['model'\]\['fn'\] of type function"):
        save({"model": {"fn": lambda: 0}}, tmp_path / "bad.pt", format="chainrule")
    with pytest.raises(TypeError, match="object"):
        save(np.array([object()]), tmp_path / "bad.pt", format="chainrule")
    assert not (tmp_path / "bad.pt").exists()


def test_pytorch_format_refuses_what_pickle_cannot_hold_and_leaves_no_file(tmp_path):
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        save({"model": {"fn": lambda: 0}}, tmp_path / "bad.pt")
    assert os.listdir(tmp_path) == []


class _DiskFills:
    """A file that accepts ``room`` bytes and then fails as a full disk does."""

    def __init__(self, real, room):
        self.real, self.room = real, room

    def write(self, data):
        data = bytes(memoryview(data).cast("B"))
        if len(data) > self.room:
            self.real.write(data[:self.room])
            raise OSError(28, "No space left on device")
        self.room -= len(data)
        return self.real.write(data)

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()


@pytest.mark.parametrize("fmt", FORMATS)
def test_crash_mid_write_leaves_the_old_file_intact(tmp_path, monkeypatch, fmt):
    path = tmp_path / "ckpt.pt"
    save({"version": "old", "w": chainrule.tensor([1.0])}, path, format=fmt)
    original = path.read_bytes()
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, mode: _DiskFills(real_fdopen(fd, mode), room=600))
    with pytest.raises(OSError, match=r"No space left on device: '.*ckpt.pt'") as info:
        save({"version": "new", "w": chainrule.tensor([2.0] * 1000)}, path, format=fmt)
    monkeypatch.undo()
    assert ".tmp" not in str(info.value)   # the error names the user's path, not the temporary file
    assert path.read_bytes() == original
    assert load(path)["version"] == "old"
    assert os.listdir(tmp_path) == ["ckpt.pt"]  # no temporary file left behind


def test_crash_before_rename_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save("old", path)

    def fail(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(KeyboardInterrupt):
        save("new", path)
    monkeypatch.undo()
    assert load(path) == "old"
    assert os.listdir(tmp_path) == ["ckpt.pt"]


def test_saving_into_a_missing_directory_says_so(tmp_path):
    with pytest.raises(RuntimeError, match="Parent directory .*missing does not exist"):
        save(1, tmp_path / "missing" / "x.pt")
    with pytest.raises(IsADirectoryError):
        save(1, tmp_path)


def test_truncated_chainrule_file_is_a_clear_error(tmp_path):
    path = tmp_path / "x.pt"
    save({"w": chainrule.tensor(np.arange(100.0))}, path, format="chainrule")
    blob = path.read_bytes()
    for cut in (3, 20, 40, len(blob) - 1):
        path.write_bytes(blob[:cut])
        with pytest.raises(CheckpointError, match=r"chainrule.load: '.*x.pt' is truncated"):
            load(path)


def test_corrupted_chainrule_file_is_a_clear_error(tmp_path):
    path = tmp_path / "x.pt"
    save({"w": chainrule.tensor(np.arange(100.0))}, path, format="chainrule")
    blob = bytearray(path.read_bytes())
    blob[-5] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="corrupted"):
        load(path)
    path.write_bytes(bytes(blob) + b"extra")
    with pytest.raises(CheckpointError, match="corrupted"):
        load(path)


def test_foreign_files_are_a_clear_error(tmp_path):
    path = tmp_path / "x.pt"
    path.write_text("hello, I am a text file\n")
    with pytest.raises(CheckpointError, match=r"'.*x.pt' is not a checkpoint"):
        load(path)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="is empty"):
        load(path)
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="a pickle, but not one torch.save wrote"):
        load(path)
    with open(path, "r") as text_mode:
        with pytest.raises(CheckpointError, match="opened in text mode"):
            load(text_mode)


def test_newer_format_version_is_a_clear_error(tmp_path):
    path = tmp_path / "x.pt"
    save(1, path, format="chainrule")
    blob = bytearray(path.read_bytes())
    blob[8] = 99
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="format version 99"):
        load(path)


class Boom:
    """Unpickling this would run code; chainrule's format must never be able to do so."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_chainrule_format_is_not_pickle_and_cannot_run_code(tmp_path, monkeypatch):
    path = tmp_path / "x.pt"
    save({"w": chainrule.tensor([1.0])}, path, format="chainrule")
    blob = path.read_bytes()
    assert blob.startswith(b"\x89CHAINR\n")
    with pytest.raises(TypeError):
        save({"evil": Boom()}, path, format="chainrule")

    def no_unpickling(*args, **kwargs):
        raise AssertionError("load must not unpickle")

    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "Unpickler", no_unpickling)
    assert_identical(load(path, weights_only=False), {"w": chainrule.tensor([1.0])})


@pytest.mark.parametrize("fmt", FORMATS)
def test_optimizer_resumes_exactly_through_a_checkpoint(tmp_path, fmt):
    from chainrule import optim

    rng = np.random.default_rng(5)
    grads = [rng.standard_normal(4) for _ in range(10)]
    p = chainrule.tensor(np.ones(4), requires_grad=True)
    opt = optim.AdamW([p], lr=0.1)
    for g in grads[:5]:
        p.grad = chainrule.tensor(g)
        opt.step()
    save({"p": p, "opt": opt.state_dict()}, tmp_path / "c.pt", format=fmt)
    ckpt = load(tmp_path / "c.pt")
    q = ckpt["p"]
    resumed = optim.AdamW([q], lr=0.1)
    resumed.load_state_dict(ckpt["opt"])
    for g in grads[5:]:
        p.grad = chainrule.tensor(g)
        q.grad = chainrule.tensor(g)
        opt.step()
        resumed.step()
    assert _np(p).tobytes() == _np(q).tobytes()


@pytest.mark.parametrize("fmt", FORMATS)
def test_saved_file_has_the_usual_permissions(tmp_path, fmt):
    if not hasattr(os, "fchmod"):
        pytest.skip("POSIX permissions only")
    mask = os.umask(0o022)
    try:
        save(1, tmp_path / "m.pt", format=fmt)
    finally:
        os.umask(mask)
    assert (tmp_path / "m.pt").stat().st_mode & 0o777 == 0o644
