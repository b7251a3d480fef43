"""Typical PyTorch scripts, written once and run twice: ``script(torch)`` and ``script(chainrule)``.

Each script is the kind of code tutorials and real projects contain (a Module subclass, a DataLoader loop,
optimizer + scheduler, eval under no_grad, checkpoints, common tensor idioms). It takes the module as its only
argument, builds its data with NumPy and its initial weights with NumPy (so both runs start from the same
numbers; the RNG streams of chainrule and PyTorch differ by design), and returns what a script would print or
keep: losses per step, final parameters, metrics, reprs. The test compares the two results (float32: rtol 1e-5,
float64: rtol 1e-6). Any error, missing argument, different value or different printout is a bug.
"""
import math
import os

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import chainrule  # noqa: E402


# ---------------------------------------------------------------- helpers
def assert_same(mine, ref, rtol=1e-5, atol=1e-6, path="result"):
    """Compare two script results recursively: dicts, lists/tuples, arrays, numbers, strings, bools."""
    if isinstance(ref, dict):
        assert isinstance(mine, dict), f"{path}: {type(mine)} is not a dict"
        assert list(mine) == list(ref), f"{path}: keys {list(mine)} != {list(ref)}"
        for k in ref:
            assert_same(mine[k], ref[k], rtol, atol, f"{path}[{k!r}]")
    elif isinstance(ref, (list, tuple)):
        assert isinstance(mine, (list, tuple)), f"{path}: {type(mine)} is not a sequence"
        assert len(mine) == len(ref), f"{path}: length {len(mine)} != {len(ref)}"
        for i, (m, r) in enumerate(zip(mine, ref)):
            assert_same(m, r, rtol, atol, f"{path}[{i}]")
    elif isinstance(ref, np.ndarray):
        assert isinstance(mine, np.ndarray), f"{path}: {type(mine)} is not an ndarray"
        assert mine.shape == ref.shape, f"{path}: shape {mine.shape} != {ref.shape}"
        assert mine.dtype == ref.dtype, f"{path}: dtype {mine.dtype} != {ref.dtype}"
        if ref.dtype.kind in "fc":
            np.testing.assert_allclose(mine, ref, rtol=rtol, atol=atol, err_msg=path)
        else:
            np.testing.assert_array_equal(mine, ref, err_msg=path)
    elif isinstance(ref, (bool, str, type(None))):
        assert type(mine) is type(ref) and mine == ref, f"{path}: {mine!r} != {ref!r}"
    elif isinstance(ref, int):
        assert type(mine) is int and mine == ref, f"{path}: {mine!r} ({type(mine).__name__}) != {ref!r}"
    elif isinstance(ref, float):
        assert type(mine) is float, f"{path}: {mine!r} is a {type(mine).__name__}, not a float"
        np.testing.assert_allclose(mine, ref, rtol=rtol, atol=atol, err_msg=path)
    else:
        raise TypeError(f"{path}: cannot compare a {type(ref).__name__}")


def run_both(script, *args, rtol=1e-5, atol=1e-6):
    ref = script(torch, *args)
    mine = script(chainrule, *args)
    assert_same(mine, ref, rtol=rtol, atol=atol)
    return mine


def numpy_init(torch, model, seed, scale=0.3):
    """Give every floating entry of the state dict NumPy-made values (running variances stay positive)."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, value in model.state_dict().items():
        shape = tuple(value.shape)
        if not value.is_floating_point():
            continue
        arr = rng.standard_normal(shape) * scale
        if name.endswith("running_var"):
            arr = np.abs(arr) + 0.5
        dtype = np.float64 if value.dtype == torch.float64 else np.float32
        state[name] = torch.tensor(arr.astype(dtype))
    model.load_state_dict(state, strict=False)
    return model


def params_np(model):
    return {name: p.detach().cpu().numpy().copy() for name, p in model.named_parameters()}


# ---------------------------------------------------------------- 1. a classifier, tutorial style
def classifier_script(torch, tmpdir):
    nn = torch.nn
    F = torch.nn.functional
    optim = torch.optim
    from_data = torch.utils.data

    class Net(nn.Module):
        def __init__(self, in_features, hidden, classes):
            super().__init__()
            self.features = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Dropout(0.0))
            self.hidden = nn.Linear(hidden, hidden)
            self.dropout = nn.Dropout(p=0.5)
            self.out = nn.Linear(hidden, classes)

        def forward(self, x):
            x = self.features(x)
            x = F.relu(self.hidden(x))
            x = self.dropout(x)
            return self.out(x)

    rng = np.random.default_rng(1)
    X = rng.standard_normal((60, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1).astype(np.int64)
    dataset = from_data.TensorDataset(torch.from_numpy(X), torch.from_numpy(y))
    loader = from_data.DataLoader(dataset, batch_size=16, shuffle=False)

    model = numpy_init(torch, Net(5, 12, 3), seed=2)
    model.dropout.p = 0.0  # deterministic training (dropout masks come from different RNGs)
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)

    losses, lrs, epoch_losses = [], [], []
    for epoch in range(4):
        model.train()
        running_loss = 0.0
        for i, (inputs, labels) in enumerate(loader):
            optimizer.zero_grad()
            outputs = model(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            running_loss += loss.item() * inputs.size(0)
        scheduler.step()
        lrs.append(optimizer.param_groups[0]["lr"])
        lrs.append(scheduler.get_last_lr()[0])
        epoch_losses.append(f"Epoch [{epoch + 1}/4], Loss: {running_loss / len(loader.dataset):.4f}")

    model.dropout.p = 0.5
    model.eval()
    correct = 0
    total = 0
    with torch.no_grad():
        for inputs, labels in loader:
            outputs = model(inputs)
            pred = outputs.argmax(dim=1)
            correct += (pred == labels).sum().item()
            total += labels.size(0)
        eval_out = model(torch.from_numpy(X)).numpy()
    accuracy = correct / len(dataset)

    path = os.path.join(tmpdir, f"model_{torch.__name__}.pt")
    torch.save(model.state_dict(), path)
    fresh = Net(5, 12, 3)
    fresh.load_state_dict(torch.load(path))
    fresh.eval()
    with torch.no_grad():
        reloaded = fresh(torch.from_numpy(X))
    same_after_reload = bool(torch.equal(reloaded, model(torch.from_numpy(X)).detach()))
    return dict(losses=losses, lrs=lrs, epoch_losses=epoch_losses, correct=correct, total=total,
                accuracy=accuracy, eval_out=eval_out, params=params_np(model), same=same_after_reload,
                batches=len(loader), state_keys=list(model.state_dict().keys()), repr=repr(model))


def test_classifier_script(tmp_path):
    run_both(classifier_script, str(tmp_path))


# ---------------------------------------------------------------- 2. regression with hand-rolled preprocessing
def regression_script(torch):
    nn = torch.nn
    torch.manual_seed(42)  # scripts seed first; the draws below are only checked for shape and statistics
    noise = torch.randn(100, 1) * 0.0
    rng = np.random.default_rng(3)
    x_np = rng.uniform(-2, 2, size=100).astype(np.float32)
    x = torch.tensor(x_np, dtype=torch.get_default_dtype()).view(-1, 1)
    x2 = torch.cat([x, x ** 2], dim=1)
    feats = torch.stack([x2[:, 0], x2[:, 1], torch.sin(x).squeeze()], dim=1)
    assert feats.shape == (100, 3)
    mean = feats.mean(dim=0)
    std = feats.std(dim=0)
    feats = (feats - mean) / std
    target = (3.0 * x - 2.0 * x ** 2 + 0.5).squeeze(1).unsqueeze(-1) + noise
    weights_t = feats.T @ feats / len(feats)

    model = nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.1, -0.2, 0.3]]))
        model.bias.fill_(0.0)
    criterion = nn.MSELoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    history, norms = [], []
    for epoch in range(30):
        perm = np.arange(100).reshape(4, 25)[epoch % 4]
        idx = torch.from_numpy(perm)
        pred = model(feats[idx])
        loss = criterion(pred, target[idx])
        optimizer.zero_grad()
        loss.backward()
        total_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
        norms.append(float(total_norm))
        optimizer.step()
        history.append(loss.item())
    with torch.no_grad():
        full = criterion(model(feats), target).item()
        r2 = 1 - ((model(feats) - target) ** 2).sum() / ((target - target.mean()) ** 2).sum()
    return dict(history=history, norms=norms, full=full, r2=r2.item(), mean=mean.numpy(), std=std.numpy(),
                gram=weights_t.numpy(), params=params_np(model), std_all=feats.std().item(),
                noise_shape=tuple(noise.shape), printed=f"{loss:.4f} {loss.item():.4f}",
                w=model.weight.data.numpy().copy(), stat=[round(float(t), 3) for t in model.bias.detach()])


def test_regression_script():
    run_both(regression_script)


def test_regression_script_float64():
    def script(torch):
        torch.set_default_dtype(torch.float64)
        try:
            return regression_script(torch)
        finally:
            torch.set_default_dtype(torch.float32)
    run_both(script, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- 3. a small CNN with batch norm
def cnn_script(torch):
    nn = torch.nn

    class SmallCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 4, kernel_size=3, padding=1)
            self.bn1 = nn.BatchNorm2d(4)
            self.pool = nn.MaxPool2d(2, 2)
            self.conv2 = nn.Conv2d(4, 8, 3, stride=1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(8, momentum=0.2)
            self.flatten = nn.Flatten()
            self.fc = nn.Linear(8 * 2 * 2, 10)

        def forward(self, x):
            x = self.pool(torch.relu(self.bn1(self.conv1(x))))
            x = self.pool(nn.functional.relu(self.bn2(self.conv2(x))))
            return self.fc(self.flatten(x))

    rng = np.random.default_rng(5)
    images = rng.standard_normal((32, 1, 8, 8)).astype(np.float32)
    labels = rng.integers(0, 10, size=32)
    model = numpy_init(torch, SmallCNN(), seed=6)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    for step in range(5):
        model.train()
        xb = torch.tensor(images[step * 6:step * 6 + 8])
        yb = torch.tensor(labels[step * 6:step * 6 + 8])
        optimizer.zero_grad()
        out = model(xb)
        loss = loss_fn(out, yb)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        model.eval()
        with torch.no_grad():
            ev = model(torch.tensor(images))
            losses.append(loss_fn(ev, torch.tensor(labels)).item())
    _, predicted = torch.max(ev.data, 1)
    state = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return dict(losses=losses, state=state, predicted=predicted.numpy(), n_params=n_params,
                training=[m.training for m in model.modules()], repr=str(model),
                tracked=int(model.bn1.num_batches_tracked))


def test_cnn_script():
    run_both(cnn_script, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- 4. a sequence classifier
def sequence_script(torch, cell):
    nn = torch.nn

    class SeqClassifier(nn.Module):
        def __init__(self, vocab_size, embed_dim, hidden_dim, num_layers=1):
            super().__init__()
            self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
            rnn = nn.LSTM if cell == "lstm" else nn.GRU
            self.rnn = rnn(embed_dim, hidden_dim, num_layers=num_layers, batch_first=True)
            self.fc = nn.Linear(hidden_dim, 1)

        def forward(self, tokens):
            embedded = self.embedding(tokens)
            output, hidden = self.rnn(embedded)
            last = output[:, -1, :]
            if cell == "lstm":
                h_n = hidden[0]
            else:
                h_n = hidden
            assert torch.allclose(h_n[-1], last)
            return self.fc(last).squeeze(1)

    rng = np.random.default_rng(7)
    tokens = rng.integers(1, 20, size=(24, 6))
    tokens[:, :2][rng.random((24, 2)) < 0.3] = 0
    labels = (tokens.sum(axis=1) > 60).astype(np.float32)
    model = numpy_init(torch, SeqClassifier(20, 8, 10, num_layers=2), seed=8)
    with torch.no_grad():
        model.embedding.weight[0].zero_()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.01)
    criterion = nn.BCEWithLogitsLoss()
    dataset = torch.utils.data.TensorDataset(torch.tensor(tokens), torch.tensor(labels))
    loader = torch.utils.data.DataLoader(dataset, batch_size=8)
    losses, norms = [], []
    for epoch in range(3):
        model.train()
        for batch_idx, (xb, yb) in enumerate(loader):
            logits = model(xb)
            loss = criterion(logits, yb)
            optimizer.zero_grad()
            loss.backward()
            norms.append(torch.nn.utils.clip_grad_norm_(model.parameters(), 0.5).item())
            optimizer.step()
            losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        probs = torch.sigmoid(model(torch.tensor(tokens)))
        preds = (probs > 0.5).float()
        acc = (preds == torch.tensor(labels)).float().mean().item()
    names = [name for name, _ in model.named_parameters()]
    return dict(losses=losses, norms=norms, probs=probs.numpy(), acc=acc, names=names,
                params=params_np(model), repr=repr(model), pad_row=model.embedding.weight[0].detach().numpy())


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sequence_script(cell):
    run_both(sequence_script, cell, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- 5. everyday tensor idioms
def idioms_script(torch):
    nn = torch.nn
    F = nn.functional
    out = {}
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out["device"] = str(device)
    out["device_repr"] = repr(device)
    t = torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.float32)
    out["t_repr"] = repr(t)
    out["t_str"] = str(t)
    out["dtype"] = str(t.dtype)
    out["int_repr"] = repr(torch.tensor([1, 2, 3]))
    out["long_dtype"] = str(torch.tensor([1, 2]).dtype)
    out["bool_repr"] = repr(torch.tensor([True, False]))
    out["scalar_repr"] = repr(torch.tensor(3.5))
    out["double_repr"] = repr(torch.tensor([1.5, 2.0], dtype=torch.float64))
    arr = np.arange(12, dtype=np.float64).reshape(3, 4)
    f = torch.from_numpy(arr).float()
    out["from_numpy"] = str(f.dtype)
    x = f.to(device)
    out["x_device"] = str(x.device)
    out["to_dtype"] = str(x.to(torch.float64).dtype)
    out["cpu_numpy"] = x.cpu().detach().numpy()
    out["shape"] = torch.randn(3, 4).shape == (3, 4)
    out["size"] = tuple(torch.randn(3, 4).size())
    out["size_repr"] = repr(torch.zeros(2, 3).shape)
    out["size_1"] = torch.zeros(2, 3).size(1)
    out["dim"] = x.dim()
    out["ndim"] = x.ndim
    out["numel"] = x.numel()

    logits = torch.tensor([[2.0, 1.0, 0.1], [0.5, 2.5, -1.0], [0.0, 0.0, 3.0], [1.0, 1.0, 1.0]])
    out["argmax"] = torch.argmax(logits, dim=1).numpy()
    out["argmax_flat"] = torch.argmax(logits).item()
    values, indices = torch.max(logits, 1)
    out["max_values"] = values.numpy()
    out["max_indices"] = indices.numpy()
    _, predicted = torch.max(logits.data, 1)
    out["predicted"] = predicted.numpy()
    res = logits.max(dim=1)
    out["max_named"] = [res.values.numpy(), res.indices.numpy()]
    out["max_all"] = torch.max(logits).item()
    out["min_pair"] = torch.min(logits, dim=0)[1].numpy()
    out["max_binary"] = torch.max(logits, torch.zeros_like(logits)).numpy()
    out["softmax"] = torch.softmax(logits, dim=1).numpy()
    out["F_softmax"] = F.softmax(logits, dim=-1).numpy()
    out["log_softmax"] = F.log_softmax(logits, dim=1).numpy()
    out["topk"] = [a.numpy() for a in torch.topk(logits, 2, dim=1)]
    labels = torch.tensor([0, 1, 2, 1])
    one_hot = F.one_hot(labels, num_classes=3)
    out["one_hot"] = one_hot.numpy()
    out["one_hot_float"] = one_hot.float().numpy()
    out["one_hot_auto"] = F.one_hot(labels).numpy()
    out["where"] = torch.where(logits > 1, logits, torch.zeros_like(logits)).numpy()
    out["where_scalar"] = torch.where(logits > 1, logits, 0.0).numpy()
    out["where_nonzero"] = [a.numpy() for a in torch.where(logits > 1)]
    out["clamp"] = torch.clamp(logits, min=0.0, max=2.0).numpy()
    out["clamp_min"] = logits.clamp(min=0.5).numpy()
    out["clip"] = torch.clip(logits, -0.5, 0.5).numpy()
    mask = logits > 1.0
    out["masked_select"] = logits[mask].numpy()
    out["mask_sum"] = mask.sum().item()
    out["mask_float_mean"] = mask.float().mean().item()
    out["any_all"] = [bool(mask.any()), bool(mask.all()), mask.any().item()]
    w = logits.clone().requires_grad_(True)
    with torch.no_grad():
        w[w < 0.5] = 0
        w[:, 0] += 1
    out["masked_assign"] = w.detach().numpy()
    out["masked_fill"] = logits.masked_fill(~mask, float("-inf")).numpy()
    out["zeros_like"] = torch.zeros_like(logits).numpy()
    out["ones_like"] = torch.ones_like(labels).numpy()
    out["full"] = torch.full((2, 2), 7.0).numpy()
    out["arange"] = torch.arange(0, 10, 2).numpy()
    out["arange_f"] = torch.arange(0.0, 1.0, 0.25).numpy()
    out["linspace"] = torch.linspace(0, 1, steps=5).numpy()
    out["eye"] = torch.eye(3).numpy()
    out["list_tensor"] = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float32).numpy()
    out["tolist"] = logits.argmax(1).tolist()
    out["tolist_f"] = torch.tensor([[0.5, 1.5]]).tolist()
    out["item_type"] = type(torch.tensor(3).item()).__name__
    out["int_cast"] = int(torch.tensor(7))
    out["float_cast"] = float(torch.tensor(2.5))
    out["bool_cast"] = bool(torch.tensor(1.0) > 0)
    out["index_item"] = logits[1, 1].item()
    out["fmt"] = f"{torch.tensor(0.123456):.4f} {torch.tensor(1.5).item():.2f} {torch.tensor(3):d}"
    out["round"] = round(torch.tensor(2.71828).item(), 3)
    out["detach_clone"] = logits.detach().clone().numpy()
    out["flatten"] = logits.flatten().numpy()
    out["reshape"] = logits.reshape(2, -1).numpy()
    out["permute"] = torch.randn(2, 3, 4).permute(2, 0, 1).shape == (4, 2, 3)
    out["transpose"] = logits.transpose(0, 1).numpy()
    out["contig_view"] = logits.t().contiguous().view(-1).numpy()
    out["sort"] = [a.numpy() for a in torch.sort(logits, dim=1, descending=True)]
    out["cumsum"] = torch.cumsum(logits, dim=0).numpy()
    out["norm"] = logits.norm(dim=1).numpy()
    out["dist"] = torch.norm(logits - 1).item()
    out["abs_sum"] = logits.abs().sum(dim=1, keepdim=True).numpy()
    out["unique"] = torch.unique(labels).numpy()
    out["bincount"] = torch.bincount(labels).numpy()
    out["eq_all"] = torch.equal(labels, labels.clone())
    out["allclose"] = torch.allclose(logits, logits + 1e-9)
    out["isnan"] = torch.isnan(torch.tensor([1.0, float("nan")])).numpy()
    out["chunk"] = [c.numpy() for c in torch.chunk(torch.arange(6), 3)]
    out["split"] = [c.numpy() for c in torch.arange(7).split(3)]
    out["expand"] = torch.tensor([1.0, 2.0]).unsqueeze(0).expand(3, -1).numpy()
    out["repeat"] = torch.tensor([1, 2]).repeat(2, 2).numpy()
    out["gather"] = logits.gather(1, labels.unsqueeze(1)).squeeze(1).numpy()
    out["type_as"] = labels.type_as(logits).numpy()
    out["long"] = logits.long().numpy()
    out["int"] = logits.int().numpy()
    out["bool"] = logits.bool().numpy()
    out["half_dtype"] = str(logits.half().dtype)
    out["is_fp"] = [torch.is_floating_point(logits), labels.is_floating_point(), torch.is_tensor(labels)]
    return out


def test_everyday_idioms():
    run_both(idioms_script)


# ---------------------------------------------------------------- 6. model bookkeeping and grad modes
def bookkeeping_script(torch, tmpdir):
    nn = torch.nn
    F = nn.functional

    class Block(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.norm = nn.LayerNorm(dim)
            self.ff = nn.Sequential(nn.Linear(dim, dim * 2), nn.GELU(), nn.Linear(dim * 2, dim))

        def forward(self, x):
            return x + self.ff(self.norm(x))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Linear(4, 6)
            self.blocks = nn.ModuleList([Block(6) for _ in range(2)])
            self.heads = nn.ModuleDict({"a": nn.Linear(6, 3), "b": nn.Linear(6, 1, bias=False)})
            self.scale = nn.Parameter(torch.ones(1))
            self.register_buffer("offset", torch.zeros(3))
            self.act = nn.Tanh()

        def forward(self, x):
            x = self.act(self.stem(x))
            for block in self.blocks:
                x = block(x)
            return self.heads["a"](x) * self.scale + self.offset, self.heads["b"](x)

    model = numpy_init(torch, Model(), seed=11)
    out = {"repr": repr(model), "str": str(model)}
    out["n_params"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    out["names"] = [name for name, _ in model.named_parameters()]
    out["shapes"] = [tuple(p.shape) for p in model.parameters()]
    out["buffers"] = [name for name, _ in model.named_buffers()]
    out["children"] = [name for name, _ in model.named_children()]
    out["modules"] = [type(m).__name__ for m in model.modules()]
    out["state_keys"] = list(model.state_dict())

    # freeze the stem; its parameters must not move
    for p in model.stem.parameters():
        p.requires_grad_(False)
    out["n_trainable"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    stem_before = model.stem.weight.detach().clone()
    optimizer = torch.optim.SGD(filter(lambda p: p.requires_grad, model.parameters()), lr=0.1, momentum=0.5)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=5, eta_min=0.01)
    rng = np.random.default_rng(12)
    X = torch.tensor(rng.standard_normal((10, 4)).astype(np.float32))
    Y = torch.tensor(rng.integers(0, 3, size=10))
    Z = torch.tensor(rng.standard_normal((10, 1)).astype(np.float32))
    losses, lrs = [], []
    for step in range(5):
        optimizer.zero_grad(set_to_none=True)
        logits, reg = model(X)
        loss = F.cross_entropy(logits, Y, label_smoothing=0.1) + 0.5 * F.mse_loss(reg, Z)
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        lrs.append(optimizer.param_groups[0]["lr"])
    out["losses"], out["lrs"] = losses, lrs
    out["stem_frozen"] = bool(torch.equal(stem_before, model.stem.weight))
    out["stem_grad_none"] = model.stem.weight.grad is None
    out["params"] = params_np(model)

    @torch.no_grad()
    def evaluate(m, x):
        m.eval()
        logits, _ = m(x)
        return logits

    ev = evaluate(model, X)
    out["eval_requires_grad"] = ev.requires_grad
    out["eval_grad_fn_none"] = ev.grad_fn is None
    out["eval"] = ev.numpy()
    with torch.inference_mode():
        inf = model(X)[0]
    out["inference_requires_grad"] = inf.requires_grad
    torch.set_grad_enabled(False)
    try:
        out["set_grad_disabled"] = model(X)[0].requires_grad
        out["is_grad_enabled"] = torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(True)
    with torch.set_grad_enabled(False):
        out["set_grad_ctx"] = model(X)[0].requires_grad
    out["grad_back_on"] = model(X)[0].requires_grad
    model.train(False)
    out["training_after_train_false"] = [m.training for m in model.modules()]
    model.train()
    out["training_after_train"] = model.training
    detached = model(X)[0].detach().clone()
    out["detached"] = [detached.requires_grad, detached.grad_fn is None, detached.is_leaf]

    # a checkpoint dict, as scripts save it, and resuming training from it
    ckpt = os.path.join(tmpdir, f"ckpt_{torch.__name__}.pt")
    torch.save({"epoch": 5, "model_state_dict": model.state_dict(),
                "optimizer_state_dict": optimizer.state_dict(), "loss": losses[-1]}, ckpt)
    checkpoint = torch.load(ckpt)
    resumed = Model()
    for p in resumed.stem.parameters():
        p.requires_grad_(False)
    resumed.load_state_dict(checkpoint["model_state_dict"])
    opt2 = torch.optim.SGD(filter(lambda p: p.requires_grad, resumed.parameters()), lr=0.1, momentum=0.5)
    opt2.load_state_dict(checkpoint["optimizer_state_dict"])
    out["ckpt_epoch"] = checkpoint["epoch"]
    out["ckpt_loss"] = checkpoint["loss"]
    for m in (model, resumed):
        o = optimizer if m is model else opt2
        o.zero_grad()
        loss = F.cross_entropy(m(X)[0], Y)
        loss.backward()
        o.step()
    out["resumed_matches"] = all(bool(torch.allclose(a, b)) for a, b in zip(model.parameters(), resumed.parameters()))
    out["resumed_lr"] = opt2.param_groups[0]["lr"]
    return out


def test_bookkeeping_script(tmp_path):
    run_both(bookkeeping_script, str(tmp_path))


# ---------------------------------------------------------------- 7. a custom Dataset, collate, schedulers
def data_and_schedulers_script(torch):
    nn = torch.nn
    data = torch.utils.data

    class PointsDataset(data.Dataset):
        def __init__(self, n):
            rng = np.random.default_rng(13)
            self.x = rng.standard_normal((n, 3)).astype(np.float32)
            self.y = (self.x.sum(1) > 0).astype(np.int64)

        def __len__(self):
            return len(self.x)

        def __getitem__(self, idx):
            return {"features": torch.from_numpy(self.x[idx]), "label": int(self.y[idx]), "idx": idx}

    ds = PointsDataset(50)
    out = {"len": len(ds)}
    loader = data.DataLoader(ds, batch_size=8, shuffle=False, drop_last=True, num_workers=0)
    out["n_batches"] = len(loader)
    first = next(iter(loader))
    out["batch_keys"] = sorted(first)
    out["batch_types"] = [type(first["label"]).__name__, str(first["label"].dtype), str(first["features"].dtype)]
    out["batch_shapes"] = [tuple(first["features"].shape), tuple(first["idx"].shape)]
    sub = data.Subset(ds, list(range(0, 50, 5)))
    out["subset"] = [len(sub), sub[1]["idx"]]
    train_set, val_set = data.random_split(ds, [40, 10], generator=torch.Generator().manual_seed(0))
    out["split_lens"] = [len(train_set), len(val_set)]
    out["split_disjoint"] = len(set(train_set.indices) | set(val_set.indices)) == 50
    shuffled = data.DataLoader(ds, batch_size=16, shuffle=True)
    seen = sorted(int(i) for batch in shuffled for i in batch["idx"])
    out["shuffle_covers"] = seen == list(range(50))
    concat = data.ConcatDataset([sub, sub])
    out["concat"] = len(concat)
    tuples = data.DataLoader(list(zip(ds.x, ds.y)), batch_size=10)
    xb, yb = next(iter(tuples))
    out["list_loader"] = [str(xb.dtype), str(yb.dtype), tuple(xb.shape)]

    model = nn.Linear(3, 2)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.2, -0.1, 0.4], [0.0, 0.3, -0.2]]))
        model.bias.zero_()

    def lrs_for(make, steps=8, metric=None):
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        sched = make(opt)
        lrs = []
        for epoch in range(steps):
            opt.step()
            if metric is None:
                sched.step()
            else:
                sched.step(metric[epoch])
            lrs.append(opt.param_groups[0]["lr"])
        return lrs

    sch = torch.optim.lr_scheduler
    out["step"] = lrs_for(lambda o: sch.StepLR(o, step_size=3, gamma=0.1))
    out["multistep"] = lrs_for(lambda o: sch.MultiStepLR(o, milestones=[2, 5], gamma=0.5))
    out["exp"] = lrs_for(lambda o: sch.ExponentialLR(o, gamma=0.9))
    out["cosine"] = lrs_for(lambda o: sch.CosineAnnealingLR(o, T_max=4))
    out["lambda"] = lrs_for(lambda o: sch.LambdaLR(o, lr_lambda=lambda epoch: 0.95 ** epoch))
    out["onecycle"] = lrs_for(lambda o: sch.OneCycleLR(o, max_lr=1.0, total_steps=10))
    out["plateau"] = lrs_for(lambda o: sch.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=1),
                             metric=[1.0, 0.9, 0.95, 0.97, 0.96, 0.5, 0.6, 0.7])
    out["warmup"] = lrs_for(lambda o: sch.SequentialLR(
        o, [sch.LinearLR(o, start_factor=0.1, total_iters=3), sch.CosineAnnealingLR(o, T_max=5)], milestones=[3]))
    out["constant"] = lrs_for(lambda o: sch.ConstantLR(o, factor=0.5, total_iters=3))
    out["chained"] = lrs_for(lambda o: sch.ChainedScheduler(
        [sch.ConstantLR(o, factor=0.1, total_iters=2), sch.ExponentialLR(o, gamma=0.9)]))
    out["three_phase"] = lrs_for(lambda o: sch.SequentialLR(
        o, [sch.ConstantLR(o, factor=0.5, total_iters=2), sch.StepLR(o, 2, 0.5), sch.ExponentialLR(o, 0.8)],
        milestones=[2, 5]), steps=9)
    return out


def test_data_and_schedulers_script():
    run_both(data_and_schedulers_script, rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------- regression tests for what the sweep found
def sorting_script(torch):
    x = torch.tensor([[3.0, 1.0, 2.0, 1.0], [0.5, -1.0, 4.0, 0.5], [2.0, 2.0, 2.0, -3.0]], requires_grad=True)
    out = {}
    v, i = torch.sort(x, dim=1)
    out["sort"] = [v.detach().numpy(), i.numpy()]
    v, i = x.sort(dim=0, descending=True)
    out["sort_desc"] = [v.detach().numpy(), i.numpy()]
    out["argsort"] = torch.argsort(x, dim=1, descending=True).numpy()
    out["argsort_method"] = x.argsort().numpy()
    # PyTorch leaves the order of ties unspecified in topk and median: these inputs have none
    z = x * torch.tensor([1.0, 1.1, 1.2, 1.3]) + torch.tensor([[0.0], [0.01], [0.02]])
    values, indices = torch.topk(z, 2)
    out["topk"] = [values.detach().numpy(), indices.numpy()]
    res = z.topk(1, dim=0, largest=False)
    out["topk_small"] = [res.values.detach().numpy(), res.indices.numpy()]
    out["median"] = torch.median(x).item()
    med = z.median(dim=1)
    out["median_dim"] = [med.values.detach().numpy(), med.indices.numpy()]
    loss = v.sum() * 2 + values[:, 0].sum() * 3 + med.values.pow(2).sum() + res.values.sum()
    loss.backward()
    out["grad"] = x.grad.numpy()
    labels = torch.tensor([2, 0, 2, 3, 0, 2])
    out["unique"] = torch.unique(labels).numpy()
    u, inv, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    out["unique_full"] = [u.numpy(), inv.numpy(), counts.numpy()]
    out["bincount"] = torch.bincount(labels).numpy()
    out["bincount_min"] = labels.bincount(minlength=6).numpy()
    out["bincount_w"] = torch.bincount(labels, weights=torch.arange(6.0)).numpy()
    rows, cols = torch.where(x > 1.5)
    out["where_one_arg"] = [rows.numpy(), cols.numpy()]
    out["casts"] = [str(x.byte().dtype), str(x.short().dtype), str(x.char().dtype), x.detach().byte().numpy()]
    return out


def test_sorting_and_selection_ops():
    run_both(sorting_script, rtol=1e-6)


def test_sorting_errors():
    with pytest.raises(RuntimeError, match="k out of range"):
        chainrule.topk(chainrule.ones(3), 4)
    with pytest.raises(RuntimeError, match="bincount only supports 1-d non-negative integral"):
        chainrule.bincount(chainrule.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="condition alone"):
        chainrule.where(chainrule.tensor([True]), 1.0)


# ---------------------------------------------------------------- 8. two networks, accumulation, many losses
def two_networks_script(torch):
    nn = torch.nn
    F = nn.functional

    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.bias, 0.01)

    gen = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2), nn.Linear(8, 2))
    disc = nn.Sequential(nn.Linear(2, 8), nn.LeakyReLU(0.2, inplace=True), nn.Linear(8, 1))
    numpy_init(torch, gen, seed=20)
    numpy_init(torch, disc, seed=21)
    gen.apply(init_weights)
    disc.apply(init_weights)
    opt_g = torch.optim.Adam(gen.parameters(), lr=2e-3, betas=(0.5, 0.999))
    opt_d = torch.optim.RMSprop(disc.parameters(), lr=1e-3, alpha=0.9)
    criterion = nn.BCEWithLogitsLoss()
    rng = np.random.default_rng(22)
    real = torch.tensor(rng.standard_normal((16, 2)).astype(np.float32)) * 0.5 + 1.0
    z = torch.tensor(rng.standard_normal((16, 2)).astype(np.float32))
    ones, zeros = torch.ones(16, 1), torch.zeros(16, 1)
    d_losses, g_losses = [], []
    for step in range(4):
        fake = gen(z)
        opt_d.zero_grad()
        d_loss = criterion(disc(real), ones) + criterion(disc(fake.detach()), zeros)
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        g_loss = criterion(disc(fake), ones)
        g_loss.backward()
        opt_g.step()
        d_losses.append(d_loss.item())
        g_losses.append(g_loss.item())

    # gradient accumulation over micro-batches, then one step
    head = nn.Linear(2, 3)
    numpy_init(torch, head, seed=23)
    opt = torch.optim.SGD(head.parameters(), lr=0.1)
    targets = torch.tensor(rng.integers(0, 3, size=16))
    opt.zero_grad()
    for chunk_x, chunk_y in zip(real.split(4), targets.split(4)):
        loss = F.cross_entropy(head(chunk_x), chunk_y) / 4
        loss.backward()
    accumulated = head.weight.grad.clone()
    opt.step()

    logits = head(real)
    logp = F.log_softmax(logits, dim=1)
    probs = torch.sigmoid(logits[:, 0])
    soft = F.softmax(logits.detach() * 0.5, dim=1)
    w = torch.tensor([1.0, 2.0, 0.5])
    ignore = targets.clone()
    ignore[::3] = -100
    losses = {
        "ce_weight": nn.CrossEntropyLoss(weight=w)(logits, targets),
        "ce_ignore": F.cross_entropy(logits, ignore, ignore_index=-100),
        "ce_sum": F.cross_entropy(logits, targets, reduction="sum"),
        "ce_none": F.cross_entropy(logits, targets, reduction="none"),
        "ce_probs": F.cross_entropy(logits, soft),
        "nll": nn.NLLLoss()(logp, targets),
        "bce": nn.BCELoss()(probs, (targets == 1).float()),
        "bce_pos_weight": nn.BCEWithLogitsLoss(pos_weight=torch.tensor([2.0]))(logits[:, :1], ones),
        "l1": nn.L1Loss()(logits, soft),
        "smooth_l1": nn.SmoothL1Loss(beta=0.5)(logits, soft),
        "huber": nn.HuberLoss(delta=0.7)(logits, soft),
        "kl": nn.KLDivLoss(reduction="batchmean")(logp, soft),
        "mse_sum": F.mse_loss(logits, soft, reduction="sum"),
    }
    total = sum(v.sum() for v in losses.values())
    total.backward()
    return dict(d_losses=d_losses, g_losses=g_losses, gen=params_np(gen), disc=params_np(disc),
                accumulated=accumulated.numpy(), head=params_np(head),
                losses={k: v.detach().numpy() for k, v in losses.items()}, grad=head.weight.grad.numpy(),
                repr=[repr(gen), repr(disc)])


def test_two_networks_script():
    run_both(two_networks_script, rtol=1e-5, atol=1e-6)


def legacy_script(torch):
    """Older idioms that are still everywhere in tutorials."""
    from_list = torch.FloatTensor([[1, 2], [3, 4]])
    labels = torch.LongTensor([0, 1])
    v = torch.autograd.Variable(from_list, requires_grad=True)
    (v * 2).sum().backward()
    return dict(f=from_list.numpy(), f_dtype=str(from_list.dtype), l=labels.numpy(), l_dtype=str(labels.dtype),
                grad=v.grad.numpy(), type=from_list.type(), isinstance=isinstance(from_list, torch.Tensor),
                sized=tuple(torch.FloatTensor(2, 3).shape), as_double=str(labels.type(torch.DoubleTensor).dtype),
                as_str=str(labels.type("torch.FloatTensor").dtype),
                checks=[isinstance(labels, torch.LongTensor), isinstance(labels, torch.FloatTensor),
                        isinstance(v, torch.autograd.Variable)], leaf=[v.is_leaf, v.requires_grad])


def test_legacy_script():
    run_both(legacy_script)


def printed_losses_script(torch):
    """``print(loss)`` shows the grad_fn: scripts (and their logs) show PyTorch's names."""
    F = torch.nn.functional
    x = torch.tensor([[1.0, 2.0, 0.5], [0.5, -1.0, 2.0]], requires_grad=True)
    y = torch.tensor([0, 2])
    probs = torch.tensor([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
    return [repr(F.cross_entropy(x, y)), repr(torch.nn.CrossEntropyLoss(weight=torch.ones(3))(x, y)),
            repr(F.cross_entropy(x, y, reduction="none")), repr(F.nll_loss(F.log_softmax(x, 1), y)),
            repr(torch.nn.MSELoss()(x, probs)), repr(F.mse_loss(x, probs, reduction="sum")),
            repr(F.mse_loss(x, probs, reduction="none"))]


def test_printed_losses():
    run_both(printed_losses_script)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_gradients_match_torch(reduction):
    """mse_loss is one primitive (MseLossBackward0): first and second derivatives, broadcasting, both inputs."""
    def script(torch):
        x = torch.tensor(np.linspace(-1, 2, 12).reshape(4, 3), requires_grad=True)
        t = torch.tensor([[0.5, -0.25, 1.0]], dtype=torch.float64, requires_grad=True)
        with pytest.warns(UserWarning, match="different to the input size"):
            loss = torch.nn.functional.mse_loss(x, t, reduction=reduction)
        g = torch.ones_like(loss) * 0.5 if reduction == "none" else None
        gx, gt = torch.autograd.grad(loss, (x, t), grad_outputs=g, create_graph=True)
        (gx.pow(3).sum() + gt.sum()).backward()
        return [loss.detach().numpy(), gx.detach().numpy(), gt.detach().numpy(), x.grad.numpy(), t.grad.numpy()]
    run_both(script, rtol=1e-12, atol=1e-12)
