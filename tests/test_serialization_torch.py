"""Checkpoints cross between PyTorch and chainrule in both directions, checked by real PyTorch.

PyTorch saves, chainrule loads (and the reverse, with PyTorch's default ``weights_only=True``): models give
the same outputs, optimizers continue the same trajectory, shared storages stay shared, every dtype both
have survives, and ``map_location``, ``mmap`` and the legacy format behave as PyTorch's do.
"""
import io
import zipfile

import numpy as np
import pytest
import torch

import chainrule
from chainrule import serialization
from chainrule.serialization import CheckpointError, _pickler

from oracle import assert_same

torch.manual_seed(0)


def _via_torch(obj, **kwargs):
    buffer = io.BytesIO()
    torch.save(obj, buffer, **kwargs)
    buffer.seek(0)
    return buffer


def _via_chainrule(obj, **kwargs):
    buffer = io.BytesIO()
    chainrule.save(obj, buffer, **kwargs)
    buffer.seek(0)
    return buffer


def _mlp(nn):
    return nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Dropout(0.2), nn.Linear(16, 3))


def _cnn(nn):
    return nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 4, 3, groups=2), nn.GroupNorm(2, 4), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(4, 3))


def _conv1d(nn):
    return nn.Sequential(nn.Conv1d(3, 5, 3, stride=2), nn.BatchNorm1d(5), nn.Tanh(), nn.AvgPool1d(2))


class _Tagger:
    """An embedding, a LayerNorm and a recurrent layer: (B, T) token ids -> (B, T, 5) scores."""

    def __init__(self, nn, rnn):
        class Tagger(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(20, 8)
                self.norm = nn.LayerNorm(8)
                self.rnn = getattr(nn, rnn)(8, 6, num_layers=2, batch_first=True)
                self.head = nn.Linear(6, 5)

            def forward(self, ids):
                out, _ = self.rnn(self.norm(self.embed(ids)))
                return self.head(out)
        self.model = Tagger()


def _attention(nn):
    return nn.MultiheadAttention(8, 2, batch_first=True)


MODELS = {
    "mlp": (_mlp, lambda rng: rng.standard_normal((5, 6))),
    "cnn": (_cnn, lambda rng: rng.standard_normal((2, 2, 8, 8))),
    "conv1d": (_conv1d, lambda rng: rng.standard_normal((2, 3, 17))),
    "lstm": (lambda nn: _Tagger(nn, "LSTM").model, lambda rng: rng.integers(0, 20, (3, 7))),
    "gru": (lambda nn: _Tagger(nn, "GRU").model, lambda rng: rng.integers(0, 20, (3, 7))),
}


def _run(model, lib, x):
    model.eval()
    with lib.no_grad():
        if x.dtype.kind == "f":
            return model(lib.tensor(x.astype(np.float32)))
        return model(lib.tensor(x))


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_pytorch_state_dict_loads_into_chainrule_with_the_same_outputs(name):
    build, make_input = MODELS[name]
    tm = build(torch.nn)
    if name == "cnn":   # give the BatchNorm running statistics that are not the defaults
        tm.train()
        tm(torch.randn(4, 2, 8, 8))
    cm = build(chainrule.nn)
    loaded = chainrule.load(_via_torch(tm.state_dict()))
    assert list(loaded) == list(tm.state_dict())
    assert loaded._metadata == tm.state_dict()._metadata
    cm.load_state_dict(loaded)
    x = make_input(np.random.default_rng(1))
    assert_same(_run(cm, chainrule, x), _run(tm, torch, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_chainrule_state_dict_loads_into_pytorch_with_weights_only(name):
    build, make_input = MODELS[name]
    cm, tm = build(chainrule.nn), build(torch.nn)
    state = torch.load(_via_chainrule(cm.state_dict()), weights_only=True)
    assert list(state) == list(cm.state_dict())
    assert state._metadata == cm.state_dict()._metadata
    tm.load_state_dict(state)
    x = make_input(np.random.default_rng(2))
    assert_same(_run(cm, chainrule, x), _run(tm, torch, x), rtol=1e-5, atol=1e-6)


def test_attention_weights_cross_both_ways():
    x = np.random.default_rng(3).standard_normal((2, 5, 8)).astype(np.float32)
    tm, cm = _attention(torch.nn), _attention(chainrule.nn)
    cm.load_state_dict(chainrule.load(_via_torch(tm.state_dict())))
    with torch.no_grad():
        t_out = tm(*[torch.tensor(x)] * 3)[0]
    c_out = cm(*[chainrule.tensor(x)] * 3)[0]
    assert_same(c_out.detach(), t_out, rtol=1e-5, atol=1e-6)
    cm2, tm2 = _attention(chainrule.nn), _attention(torch.nn)
    tm2.load_state_dict(torch.load(_via_chainrule(cm2.state_dict())))
    with torch.no_grad():
        assert_same(cm2(*[chainrule.tensor(x)] * 3)[0].detach(), tm2(*[torch.tensor(x)] * 3)[0], rtol=1e-5,
                    atol=1e-6)


OPTIMIZERS = [("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}), ("Adam", {"lr": 0.01, "amsgrad": True}),
              ("AdamW", {"lr": 0.01, "weight_decay": 0.1}), ("RMSprop", {"lr": 0.01, "momentum": 0.5}),
              ("Adagrad", {"lr": 0.1})]


def _regressor(nn):
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 3))   # deterministic: no dropout


def _train(lib, model, opt, batches):
    for x, y in batches:
        opt.zero_grad()
        loss = ((model(lib.tensor(x)) - lib.tensor(y)) ** 2).mean()
        loss.backward()
        opt.step()


@pytest.mark.parametrize("direction", ["torch->chainrule", "chainrule->torch"])
@pytest.mark.parametrize("name,kwargs", OPTIMIZERS)
def test_optimizer_state_crosses_and_training_continues_on_the_same_path(name, kwargs, direction):
    rng = np.random.default_rng(4)
    batches = [(rng.standard_normal((8, 6)).astype(np.float32), rng.standard_normal((8, 3)).astype(np.float32))
               for _ in range(6)]
    libs = (torch, chainrule) if direction == "torch->chainrule" else (chainrule, torch)
    first, second = libs
    m1 = _regressor(first.nn)
    o1 = getattr(first.optim, name)(m1.parameters(), **kwargs)
    _train(first, m1, o1, batches[:3])
    save, load = (torch.save, chainrule.load) if first is torch else (chainrule.save, torch.load)
    buffer = io.BytesIO()
    save({"model": m1.state_dict(), "optimizer": o1.state_dict()}, buffer)
    buffer.seek(0)
    ckpt = load(buffer)
    m2 = _regressor(second.nn)
    m2.load_state_dict(ckpt["model"])
    o2 = getattr(second.optim, name)(m2.parameters(), **kwargs)
    o2.load_state_dict(ckpt["optimizer"])
    _train(first, m1, o1, batches[3:])
    _train(second, m2, o2, batches[3:])
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        c, t = (p2, p1) if first is torch else (p1, p2)
        assert_same(c.detach(), t.detach(), rtol=1e-4, atol=1e-5)


def test_shared_storages_and_views_from_pytorch_stay_shared():
    base = torch.arange(24.0)
    obj = {"base": base, "slice": base[2:10], "strided": base.view(4, 6)[:, ::2], "t": base.view(4, 6).t(),
           "expanded": base[:1].expand(3, 5), "alias": base}
    loaded = chainrule.load(_via_torch(obj))
    for key, value in obj.items():
        assert_same(loaded[key], value, key)
    assert loaded["alias"] is loaded["base"]
    loaded["base"].mul_(-1)
    for key in obj:
        assert_same(loaded[key], -obj[key], f"{key} after an in-place change of the base")


def test_shared_storages_from_chainrule_stay_shared_in_pytorch():
    base = chainrule.arange(24.0)
    obj = {"base": base, "slice": base[2:10], "view": base.view(4, 6), "t": base.view(4, 6).t(),
           "strided": base.view(4, 6)[:, ::2], "copy": base.clone()}
    loaded = torch.load(_via_chainrule(obj))
    for key, value in obj.items():
        assert_same(value, loaded[key], key)
    storage = loaded["base"].untyped_storage().data_ptr()
    for key in ("slice", "view", "t", "strided"):
        assert loaded[key].untyped_storage().data_ptr() == storage, key
    assert loaded["copy"].untyped_storage().data_ptr() != storage
    with zipfile.ZipFile(_via_chainrule(obj)) as archive:   # the storage is written once
        assert sorted(n for n in archive.namelist() if "/data/" in n) == ["archive/data/0", "archive/data/1"]


def test_a_layout_no_storage_describes_is_saved_as_a_copy():
    flipped = chainrule.from_numpy(np.arange(6.0)[::-1])   # negative strides: PyTorch has none
    loaded = torch.load(_via_chainrule({"f": flipped}))
    assert loaded["f"].tolist() == [5.0, 4.0, 3.0, 2.0, 1.0, 0.0]


SHARED_DTYPES = ["float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64", "bool"]


@pytest.mark.parametrize("dtype", SHARED_DTYPES)
@pytest.mark.parametrize("shape", [(), (0,), (3,), (2, 0, 3), (2, 3, 4)])
def test_every_dtype_and_shape_crosses_both_ways(dtype, shape):
    values = np.asarray(np.random.default_rng(5).standard_normal(shape) * 50).astype(dtype)
    t = torch.from_numpy(values.copy())
    c = chainrule.load(_via_torch({"x": t}))["x"]
    assert_same(c, t, dtype)
    back = torch.load(_via_chainrule({"x": chainrule.from_numpy(values.copy())}))["x"]
    assert_same(chainrule.from_numpy(values), back, dtype)


def test_bfloat16_crosses_both_ways():
    t = torch.tensor([[1.5, -2.25, 3.0]], dtype=torch.bfloat16)
    p = torch.nn.Parameter(t.clone())
    loaded = chainrule.load(_via_torch({"x": t, "p": p}))
    assert loaded["x"].dtype == chainrule.bfloat16
    assert loaded["x"].float().tolist() == t.float().tolist()
    assert loaded["p"].requires_grad and loaded["p"].dtype == chainrule.bfloat16
    back = torch.load(_via_chainrule(loaded))
    assert back["x"].equal(t) and back["p"].equal(p) and back["p"].requires_grad


def test_bfloat16_without_ml_dtypes_says_what_to_install(monkeypatch):
    def missing(self):
        raise ImportError("no ml_dtypes")
    monkeypatch.setattr(type(chainrule.bfloat16), "np", property(missing))   # as if ml_dtypes were absent
    with pytest.raises(CheckpointError, match=r"holds bfloat16 data; reading it needs the ml_dtypes package: pip "
                                              r"install 'chainrule\[bf16\]'"):
        chainrule.load(_via_torch({"x": torch.ones(2, dtype=torch.bfloat16)}))


@pytest.mark.parametrize("dtype", ["complex64", "uint16", "float8_e4m3fn"])
def test_dtypes_chainrule_lacks_are_named(dtype):
    t = torch.zeros(3, dtype=getattr(torch, dtype))
    with pytest.raises(CheckpointError, match=f"dtype torch.{dtype}, which chainrule does not have"):
        chainrule.load(_via_torch({"x": t}))


def test_parameters_and_requires_grad_cross_both_ways():
    p = torch.nn.Parameter(torch.randn(3, 2))
    frozen = torch.nn.Parameter(torch.randn(2), requires_grad=False)
    loaded = chainrule.load(_via_torch({"p": p, "frozen": frozen, "leaf": torch.ones(2, requires_grad=True)}))
    assert type(loaded["p"]) is chainrule.nn.Parameter and loaded["p"].requires_grad
    assert type(loaded["frozen"]) is chainrule.nn.Parameter and not loaded["frozen"].requires_grad
    assert loaded["leaf"].requires_grad and loaded["leaf"].is_leaf
    assert_same(loaded["p"].detach(), p.detach())
    q = chainrule.nn.Parameter(chainrule.randn(3, 2))
    back = torch.load(_via_chainrule({"q": q, "plain": chainrule.ones(2)}))
    assert type(back["q"]) is torch.nn.Parameter and back["q"].requires_grad
    assert type(back["plain"]) is torch.Tensor and not back["plain"].requires_grad
    assert_same(q.detach(), back["q"].detach())


def test_tensor_attributes_and_containers_cross_both_ways():
    t = torch.ones(2)
    t.note = "kept"
    obj = {"t": t, "size": torch.Size([2, 3]), "dtype": torch.float64, "device": torch.device("cpu"),
           "set": {1, 2}, "bytes": b"\x00\xff", "complex": 1 + 2j, "nested": [(1, {"a": [None, True]})]}
    loaded = chainrule.load(_via_torch(obj))
    assert loaded["t"].note == "kept"
    assert loaded["size"] == chainrule.Size([2, 3]) and type(loaded["size"]) is chainrule.Size
    assert loaded["dtype"] is chainrule.float64 and loaded["device"] == chainrule.device("cpu")
    assert [loaded[k] for k in ("set", "bytes", "complex", "nested")] == [obj[k] for k in ("set", "bytes",
                                                                                          "complex", "nested")]
    c = chainrule.ones(2)
    c.note = "kept"
    back = torch.load(_via_chainrule({"t": c, "size": chainrule.Size([4]), "dtype": chainrule.int32,
                                      "device": chainrule.device("cpu")}))
    assert back["t"].note == "kept" and back["size"] == torch.Size([4]) and back["dtype"] is torch.int32
    assert back["device"] == torch.device("cpu")


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickle_protocols(protocol):
    obj = {"x": torch.arange(3.0), "s": "text", "n": 2 ** 40}
    loaded = chainrule.load(_via_torch(obj, pickle_protocol=protocol))
    assert loaded["x"].tolist() == [0.0, 1.0, 2.0] and loaded["s"] == "text" and loaded["n"] == 2 ** 40
    back = torch.load(_via_chainrule({"x": chainrule.arange(3.0)}, pickle_protocol=protocol),
                      weights_only=protocol == 2)
    assert back["x"].tolist() == [0.0, 1.0, 2.0]


def test_a_whole_pytorch_model_loads_as_a_chainrule_model_with_weights_only_false():
    for name in ("mlp", "cnn", "conv1d"):
        build, make_input = MODELS[name]
        tm = build(torch.nn).eval()
        cm = chainrule.load(_via_torch(tm), weights_only=False)
        assert type(cm) is chainrule.nn.Sequential
        x = make_input(np.random.default_rng(6))
        assert_same(_run(cm, chainrule, x), _run(tm, torch, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("build", [
    lambda nn: nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, batch_first=True, dropout=0.0), 2),
    lambda nn: nn.LSTM(8, 4, num_layers=2, bidirectional=True, batch_first=True),
], ids=["transformer", "lstm"])
def test_whole_pytorch_transformers_and_recurrent_layers_load_as_chainrule_ones(build):
    tm = build(torch.nn).eval()
    cm = chainrule.load(_via_torch(tm), weights_only=False)
    assert type(cm).__name__ == type(tm).__name__ and type(cm).__module__.startswith("chainrule.")
    x = np.random.default_rng(9).standard_normal((2, 5, 8)).astype(np.float32)
    with torch.no_grad():
        expected = tm(torch.tensor(x))
    got = cm(chainrule.tensor(x))
    expected, got = (expected[0], got[0]) if isinstance(expected, tuple) else (expected, got)
    assert_same(got.detach(), expected, rtol=1e-5, atol=1e-6)


def test_a_whole_pytorch_model_needs_its_classes_allow_listed():
    tm = _mlp(torch.nn)
    with pytest.raises(serialization.WeightsOnlyError, match="GLOBAL torch.nn.modules.container.Sequential was "
                                                              "not an allowed global"):
        chainrule.load(_via_torch(tm))
    nn = chainrule.nn
    with serialization.safe_globals([nn.Sequential, nn.Linear, nn.GELU, nn.Dropout]):
        cm = chainrule.load(_via_torch(tm))
    x = np.random.default_rng(7).standard_normal((2, 6))
    assert_same(_run(cm, chainrule, x), _run(tm, torch, x), rtol=1e-5, atol=1e-6)


def test_a_whole_chainrule_model_round_trips_under_safe_globals():
    cm = _cnn(chainrule.nn).eval()
    nn = chainrule.nn
    classes = [nn.Sequential, nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d, nn.GroupNorm, nn.AdaptiveAvgPool2d,
               nn.Flatten, nn.Linear]
    buffer = _via_chainrule(cm)
    with pytest.raises(serialization.WeightsOnlyError, match="chainrule.nn.modules.container.Sequential"):
        chainrule.load(buffer)
    buffer.seek(0)
    with serialization.safe_globals(classes):
        loaded = chainrule.load(buffer)
    assert serialization.get_safe_globals() == []
    x = np.random.default_rng(8).standard_normal((1, 2, 8, 8)).astype(np.float32)
    assert _run(loaded, chainrule, x).tolist() == _run(cm, chainrule, x).tolist()
    assert [p.requires_grad for p in loaded.parameters()] == [True] * len(list(cm.parameters()))


def _saved_on(location):
    """A chainrule checkpoint whose storages say they were saved on ``location`` (a GPU, say)."""
    class Pickler(_pickler.TorchPickler):
        def persistent_id(self, obj):
            pid = super().persistent_id(obj)
            return pid and pid[:3] + (location,) + pid[4:]
    original = _pickler.TorchPickler
    _pickler.TorchPickler = Pickler
    try:
        return _via_chainrule({"w": chainrule.arange(4.0)}).getvalue()
    finally:
        _pickler.TorchPickler = original


def test_map_location_forms_match_pytorch():
    data = _saved_on("cuda:0")
    for lib in (torch, chainrule):   # PyTorch without a GPU is the oracle for the error
        with pytest.raises(RuntimeError, match="Attempting to deserialize object on a CUDA device"):
            lib.load(io.BytesIO(data))
    seen = []

    def keep_on_cpu(storage, location):
        seen.append(location)
        return storage

    for map_location, torch_map_location in (("cpu", "cpu"), (chainrule.device("cpu"), torch.device("cpu")),
                                             ({"cuda:0": "cpu"}, {"cuda:0": "cpu"}), (keep_on_cpu, keep_on_cpu)):
        assert chainrule.load(io.BytesIO(data), map_location=map_location)["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
        assert torch.load(io.BytesIO(data), map_location=torch_map_location)["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    assert seen == ["cuda:0", "cuda:0"]
    assert chainrule.load(io.BytesIO(data), map_location=b"cpu")["w"].tolist() == [0.0, 1.0, 2.0, 3.0]
    with pytest.raises(RuntimeError, match="CUDA"):   # a callable returning None means "the default"
        chainrule.load(io.BytesIO(data), map_location=lambda storage, location: None)
    with pytest.raises(RuntimeError, match="chainrule runs on the CPU only"):
        chainrule.load(io.BytesIO(_saved_on("cpu")), map_location=lambda storage, location: storage.cuda())
    with pytest.raises(TypeError, match="map_location must be"):
        chainrule.load(io.BytesIO(data), map_location=3)


def test_mmap_maps_storages_instead_of_reading_them(tmp_path):
    path = tmp_path / "big.pt"
    w = torch.arange(1000.0)
    torch.save({"w": w, "v": w[10:20]}, path)
    original = path.read_bytes()
    loaded = chainrule.load(path, mmap=True)
    array = loaded["w"].numpy()
    base = array
    while isinstance(base.base, np.ndarray):
        base = base.base
    assert type(base.base.obj if isinstance(base.base, memoryview) else base.base).__name__ == "mmap"
    assert np.shares_memory(array, loaded["v"].numpy())
    loaded["w"].add_(1)   # copy-on-write: the file stays as it was
    assert loaded["v"].tolist() == [float(i + 1) for i in range(10, 20)]
    assert path.read_bytes() == original
    with pytest.raises(ValueError, match="file path in order to use the mmap"):
        chainrule.load(io.BytesIO(original), mmap=True)


def test_the_legacy_format_loads_with_sharing_kept(tmp_path):
    base = torch.arange(10.0)
    obj = {"base": base, "view": base[3:7], "p": torch.nn.Parameter(torch.ones(2)), "n": 1}
    path = tmp_path / "legacy.pt"
    torch.save(obj, path, _use_new_zipfile_serialization=False)
    loaded = chainrule.load(path)
    assert_same(loaded["base"], base)
    assert_same(loaded["view"], base[3:7])
    assert type(loaded["p"]) is chainrule.nn.Parameter and loaded["n"] == 1
    loaded["base"].zero_()
    assert loaded["view"].tolist() == [0.0] * 4
    with pytest.raises(RuntimeError, match="mmap can only be used"):
        chainrule.load(path, mmap=True)
    model = chainrule.load(_via_torch(_mlp(torch.nn), _use_new_zipfile_serialization=False), weights_only=False)
    assert type(model) is chainrule.nn.Sequential


def test_a_big_endian_checkpoint_is_byteswapped_on_load(tmp_path):
    obj = {"f": torch.arange(6.0).reshape(2, 3), "i": torch.tensor([1, -2, 3], dtype=torch.int16),
           "h": torch.tensor([0.5, -1.0], dtype=torch.float16), "b": torch.tensor([True, False])}
    original = zipfile.ZipFile(_via_torch(obj))
    swapped = tmp_path / "big_endian.pt"
    with zipfile.ZipFile(swapped, "w", compression=zipfile.ZIP_STORED) as out:
        for info in original.infolist():
            data = original.read(info)
            if info.filename.endswith("/byteorder"):
                data = b"big"
            elif "/data/" in info.filename:
                key = info.filename.rsplit("/", 1)[1]
                dtype = {"0": ">f4", "1": ">i2", "2": ">f2", "3": "|b1"}[key]
                data = np.frombuffer(data, dtype=dtype.replace(">", "<")).astype(dtype).tobytes()
            out.writestr(info.filename, data)
    expected = torch.load(swapped)   # PyTorch reads the big-endian file: the oracle
    loaded = chainrule.load(swapped)
    for key in obj:
        assert_same(loaded[key], expected[key], key)
        assert_same(loaded[key], obj[key], key)
