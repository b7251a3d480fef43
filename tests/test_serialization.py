"""chainrule.save / chainrule.load: exact round trips, atomic writes, clear errors, no pickle."""

import io
import math
import os
import pathlib
import pickle

import numpy as np
import pytest

import chainrule
from chainrule import serialization
from chainrule.serialization import CheckpointError, load, save


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


def test_round_trip_of_a_training_checkpoint_is_exact(tmp_path):
    obj = _model_and_optimizer_state()
    path = tmp_path / "ckpt.pt"
    save(obj, path)
    loaded = load(path)
    assert_identical(obj, loaded)
    # Optimizer state keeps PyTorch's layout: int keys, index lists.
    assert list(loaded["optimizer"]["state"]) == [0, 1]
    assert loaded["optimizer"]["param_groups"][0]["params"] == [0, 1]
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)


DTYPES = ["float32", "float64", "int64", "bool"]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (5,), (2, 3, 4), (1, 0, 2)])
def test_tensor_round_trip_any_dtype_and_shape(tmp_path, dtype, shape):
    rng = np.random.default_rng(1)
    array = np.asarray(rng.standard_normal(shape) * 100).astype(np.dtype(dtype))
    tensor = chainrule.from_numpy(array)
    if dtype.startswith("float"):
        tensor.requires_grad_(True)
    save({"t": tensor, "a": array}, str(tmp_path / "t.pt"))
    loaded = load(str(tmp_path / "t.pt"))
    assert_identical(loaded["t"], tensor)
    assert_identical(loaded["a"], array)
    assert loaded["t"].is_leaf


def test_loaded_tensors_are_independent_and_writable(tmp_path):
    t = chainrule.tensor([1.0, 2.0, 3.0])
    save([t, t], tmp_path / "x")
    a, b = load(tmp_path / "x")
    a.add_(1)
    np.testing.assert_array_equal(_np(a), [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(_np(t), [1.0, 2.0, 3.0])


def test_big_endian_and_non_contiguous_arrays(tmp_path):
    big = np.arange(6, dtype=">f8").reshape(2, 3)
    strided = np.arange(20, dtype=np.int64).reshape(4, 5)[::2, 1::2]
    save({"big": big, "strided": strided}, tmp_path / "x")
    loaded = load(tmp_path / "x")
    np.testing.assert_array_equal(loaded["big"], big)
    assert loaded["big"].dtype == np.float64
    np.testing.assert_array_equal(loaded["strided"], strided)


def test_file_objects_and_pathlike(tmp_path):
    obj = {"x": chainrule.tensor([1.0, 2.0]), "n": 3}
    buffer = io.BytesIO()
    save(obj, buffer)
    buffer.seek(0)
    assert_identical(load(buffer), obj)
    save(obj, pathlib.Path(tmp_path) / "p.pt")
    assert_identical(load(pathlib.Path(tmp_path) / "p.pt", map_location="cpu", weights_only=True), obj)


def test_pytorch_keyword_arguments_are_harmless(tmp_path):
    save([1, 2], tmp_path / "k.pt")
    assert load(tmp_path / "k.pt", map_location=lambda s, loc: s, weights_only=False, mmap=False) == [1, 2]


def test_unsupported_objects_are_refused_with_their_location(tmp_path):
    with pytest.raises(TypeError, match=r"obj\['model'\]\['fn'\] of type function"):
        save({"model": {"fn": lambda: 0}}, tmp_path / "bad.pt")
    with pytest.raises(TypeError, match="object"):
        save(np.array([object()]), tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()


def test_crash_mid_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.pt"
    save({"version": "old", "w": chainrule.tensor([1.0])}, path)
    original = path.read_bytes()

    def write_half_then_crash(out, chunks):
        out.write(chunks[0])
        out.write(chunks[1][: len(chunks[1]) // 2])
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(serialization, "_write_chunks", write_half_then_crash)
    with pytest.raises(OSError, match="simulated"):
        save({"version": "new", "w": chainrule.tensor([2.0] * 1000)}, path)
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


def test_truncated_file_is_a_clear_error(tmp_path):
    path = tmp_path / "x.pt"
    save({"w": chainrule.tensor(np.arange(100.0))}, path)
    blob = path.read_bytes()
    for cut in (3, 20, 40, len(blob) - 1):
        path.write_bytes(blob[:cut])
        with pytest.raises(CheckpointError, match=r"chainrule.load: '.*x.pt' is truncated"):
            load(path)


def test_corrupted_file_is_a_clear_error(tmp_path):
    path = tmp_path / "x.pt"
    save({"w": chainrule.tensor(np.arange(100.0))}, path)
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
    with pytest.raises(CheckpointError, match=r"'.*x.pt' is not a chainrule checkpoint \(bad magic\)"):
        load(path)
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="bad magic"):
        load(path)
    path.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="PyTorch \\(pickle\\) checkpoint"):
        load(path)


def test_torch_checkpoint_is_refused(tmp_path):
    torch = pytest.importorskip("torch")
    path = tmp_path / "torch.pt"
    torch.save({"w": torch.ones(2)}, path)
    with pytest.raises(CheckpointError, match="PyTorch"):
        load(path)


def test_newer_format_version_is_a_clear_error(tmp_path):
    path = tmp_path / "x.pt"
    save(1, path)
    blob = bytearray(path.read_bytes())
    blob[8] = 99
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="format version 99"):
        load(path)


class Boom:
    """Unpickling this would run code; a checkpoint must never be able to do so."""

    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_format_is_not_pickle_and_cannot_run_code(tmp_path, monkeypatch):
    path = tmp_path / "x.pt"
    save({"w": chainrule.tensor([1.0])}, path)
    blob = path.read_bytes()
    assert blob.startswith(b"\x89CHAINR\n")
    with pytest.raises(TypeError):
        save({"evil": Boom()}, path)

    def no_unpickling(*args, **kwargs):
        raise AssertionError("load must not unpickle")

    monkeypatch.setattr(pickle, "loads", no_unpickling)
    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "Unpickler", no_unpickling)
    assert_identical(load(path), {"w": chainrule.tensor([1.0])})


def test_optimizer_resumes_exactly_through_a_checkpoint(tmp_path):
    from chainrule import optim

    rng = np.random.default_rng(5)
    grads = [rng.standard_normal(4) for _ in range(10)]
    p = chainrule.tensor(np.ones(4), requires_grad=True)
    opt = optim.AdamW([p], lr=0.1)
    for g in grads[:5]:
        p.grad = chainrule.tensor(g)
        opt.step()
    save({"p": p, "opt": opt.state_dict()}, tmp_path / "c.pt")
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


def test_saved_file_has_the_usual_permissions(tmp_path):
    if not hasattr(os, "fchmod"):
        pytest.skip("POSIX permissions only")
    mask = os.umask(0o022)
    try:
        save(1, tmp_path / "m.pt")
    finally:
        os.umask(mask)
    assert (tmp_path / "m.pt").stat().st_mode & 0o777 == 0o644
