"""chainrule.playground without a browser: settings from links, data, training checked against PyTorch,
the pictures, the HTTP API (errors, hostile requests, several runs), and the page's files (all local)."""
import base64
import http.client
import json
import os
import re
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

import chainrule
from chainrule.playground.config import DEFAULT, ConfigError, from_query
from chainrule.playground.data import make_data
from chainrule.playground.server import STATIC_DIR, SessionStore, make_server
from chainrule.playground.session import BOUNDARY_SIZE, HEATMAP_SIZE, Session

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ----- settings in the URL ------------------------------------------------------------------------------------
def test_a_query_round_trips_through_the_url():
    config = from_query({"data": "spirals", "noise": "0.2", "split": "0.3", "hidden": "4,4,2", "act": "relu",
                         "loss": "bce", "opt": "adam", "lr": "0.003", "batch": "10", "l2": "0.001",
                         "init": "xavier", "seed": "42"})
    assert config.hidden == (4, 4, 2) and config.lr == 0.003 and config.batch_size == 10
    query = dict(part.split("=") for part in config.to_query().split("&"))
    assert from_query(query) == config
    assert DEFAULT.to_query() == "" and from_query({}) == DEFAULT
    assert from_query({"hidden": ""}).hidden == ()                        # no hidden layer at all


@pytest.mark.parametrize("query, parameter, message", [
    ({"lr": "-1"}, "lr", "must be more than 0 and at most 100, got -1"),
    ({"lr": "nan"}, "lr", "expected a finite number"),
    ({"lr": "fast"}, "lr", "expected a number, got 'fast'"),
    ({"hidden": "2,0"}, "hidden", "each layer needs 1 to 8 neurons"),
    ({"hidden": "2,2,2,2,2,2,2"}, "hidden", "at most 6 hidden layers, got 7"),
    ({"hidden": "two"}, "hidden", "expected neurons per layer like 4,4"),
    ({"data": "mnist"}, "data", "must be one of xor, circles, moons, spirals, blobs, got 'mnist'"),
    ({"seed": "-3"}, "seed", "must be at least 0"),
    ({"batch": "2.5"}, "batch", "expected an integer, got '2.5'"),
    ({"noise": "0.9"}, "noise", "at most 0.5"),
    ({"color": "red"}, "color", "unknown parameter"),
])
def test_bad_parameters_name_themselves(query, parameter, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        from_query(query)
    assert info.value.parameter == parameter and str(info.value).startswith(f"{parameter}: ")


# ----- data ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["circles", "moons", "spirals", "blobs"])
def test_data_sets_split_into_training_and_test_points(name):
    config = from_query({"data": name, "split": "0.3", "seed": "5"})
    data = make_data(config)
    assert data.X_train.shape == (140, 2) and data.X_test.shape == (60, 2)
    labels = np.concatenate([data.y_train, data.y_test])[:, 0]
    assert set(labels) == {0.0, 1.0} and abs(labels.mean() - 0.5) < 0.05
    x0, x1, y0, y1 = data.domain
    X = np.concatenate([data.X_train, data.X_test])
    assert x0 < X[:, 0].min() and X[:, 0].max() < x1 and y0 < X[:, 1].min() and X[:, 1].max() < y1
    again = make_data(config)
    np.testing.assert_array_equal(again.X_train, data.X_train)
    assert not np.array_equal(make_data(from_query({"data": name, "seed": "6"})).X_train[:5], data.X_train[:5])


def test_xor_is_the_essays_four_points():
    data = make_data(DEFAULT)
    np.testing.assert_array_equal(data.X_train, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(data.y_train[:, 0], [0, 1, 1, 0])
    assert data.X_test.shape == (0, 2) and data.points()[1] == [0.0, 1.0, 1, 0]


# ----- training: PyTorch does the same ------------------------------------------------------------------------
def torch_copy(session):
    layers = []
    for m in session.model:
        if isinstance(m, chainrule.nn.Linear):
            t = torch.nn.Linear(m.in_features, m.out_features).double()
            with torch.no_grad():
                t.weight.copy_(torch.tensor(m.weight.detach().numpy()))
                t.bias.copy_(torch.tensor(m.bias.detach().numpy()))
            layers.append(t)
        else:
            layers.append(getattr(torch.nn, type(m).__name__)())
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("query", [{}, {"data": "moons", "hidden": "5,3", "act": "tanh", "loss": "bce",
                                        "opt": "momentum", "lr": "0.1", "l2": "0.01", "seed": "2"},
                                   {"data": "blobs", "hidden": "4", "act": "relu", "opt": "adam", "lr": "0.01"}])
def test_training_matches_pytorch_epoch_by_epoch(query):
    session = Session(from_query(query))
    config = session.config
    model = torch_copy(session)
    X, y = torch.tensor(session.data.X_train), torch.tensor(session.data.y_train)
    loss_fn = torch.nn.MSELoss() if config.loss == "mse" else torch.nn.BCELoss()
    if config.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.l2)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=config.lr, weight_decay=config.l2,
                              momentum=0.9 if config.optimizer == "momentum" else 0.0)
    session.step(epochs=4)
    losses, norms = [], []
    for epoch in range(5):
        model.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        losses.append(loss.item())
        norms.append([m.weight.grad.norm().item() for m in model if isinstance(m, torch.nn.Linear)])
        if epoch < 4:
            opt.zero_grad()
            loss_fn(model(X), y).backward()
            opt.step()
    np.testing.assert_allclose(session.train_losses, losses, rtol=1e-9)
    np.testing.assert_allclose(session.grad_norms, norms, rtol=1e-8)


def test_batches_come_from_the_runs_own_seed_so_chunking_changes_nothing():
    query = {"data": "circles", "hidden": "3", "batch": "10", "act": "tanh", "lr": "0.3", "seed": "9"}
    one, two = Session(from_query(query)), Session(from_query(query))
    one.step(epochs=6)
    chainrule.manual_seed(1234)              # the global random state is not what decides the batches
    two.step(epochs=2)
    two.step(epochs=4)
    assert one.train_losses == two.train_losses and one.test_losses == two.test_losses
    assert one.parameters()["weights"] == two.parameters()["weights"]
    assert Session(from_query(query)).parameters()["weights"] == Session(from_query(query)).parameters()["weights"]


def decode(b64):
    return np.frombuffer(base64.b64decode(b64), dtype=np.uint8).astype(np.float64) / 127.5 - 1


def test_pictures_are_each_neurons_output_over_the_input_plane():
    session = Session(from_query({"data": "moons", "hidden": "3,2", "act": "tanh", "seed": "4"}))
    session.step(epochs=3)
    snap = session.snapshot()
    x0, x1, y0, y1 = session.data.domain
    gx, gy = np.meshgrid(np.linspace(x0, x1, HEATMAP_SIZE), np.linspace(y1, y0, HEATMAP_SIZE))
    grid = torch.tensor(np.stack([gx.ravel(), gy.ravel()], axis=1))
    model = torch_copy(session)
    layers = snap["heatmaps"]["layers"]
    assert [len(layer) for layer in layers] == [2, 3, 2, 1]
    np.testing.assert_allclose(decode(layers[0][0]), (grid[:, 0].numpy() - (x0 + x1) / 2) / ((x1 - x0) / 2), atol=0.005)
    a = model[1](model[0](grid))                                          # layer 1: tanh, shown as is
    for j in range(3):
        np.testing.assert_allclose(decode(layers[1][j]), a[:, j].detach().numpy(), atol=0.005)
    p = model(grid)[:, 0].detach().numpy()                                 # the output: 2p - 1
    np.testing.assert_allclose(decode(layers[3][0]), 2 * p - 1, atol=0.005)
    gx, gy = np.meshgrid(np.linspace(x0, x1, BOUNDARY_SIZE), np.linspace(y1, y0, BOUNDARY_SIZE))
    p = model(torch.tensor(np.stack([gx.ravel(), gy.ravel()], axis=1)))[:, 0].detach().numpy()
    np.testing.assert_allclose(decode(snap["boundary"]["values"]), 2 * p - 1, atol=0.005)
    assert snap["history"]["from"] == 0 and len(snap["history"]["train"]) == 4
    assert session.snapshot(since=3)["history"]["train"] == snap["history"]["train"][3:]


def test_a_diverged_run_sends_null_not_nan():
    session = Session(from_query({"data": "blobs", "act": "relu", "lr": "100", "hidden": "8,8,8", "opt": "momentum"}))
    session.step(epochs=30)
    snap = session.snapshot()
    json.dumps(snap, allow_nan=False)                                      # valid JSON whatever happened
    assert snap["diverged"] == (snap["train_loss"] is None)


def test_trace_is_explain_trace_and_changes_nothing():
    session = Session(from_query({"hidden": "3", "seed": "1"}))
    before = session.parameters()
    record = session.trace(2)
    from chainrule.explain import trace
    expected = trace(session.model, chainrule.tensor(session.data.X_train[2:3]),
                     chainrule.tensor(session.data.y_train[2:3]), "mse", lr=2.0)
    assert record["loss"] == expected.loss and record["ok"] == expected.ok
    assert record["layers"][1]["checks"]["dL_dW"]["autograd"] == expected.layers[1].dL_dW.autograd.tolist()
    assert session.parameters() == before
    with pytest.raises(ValueError, match="sample must be 0 to 3 for the 4 train points, got 4"):
        session.trace(4)


# ----- the HTTP server ------------------------------------------------------------------------------------------
@pytest.fixture
def server():
    srv = make_server(port=0)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def request(server, method, path, body=None, host=None, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=60)
    headers = {"Host": host or f"127.0.0.1:{server.server_address[1]}"}
    data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
    if data is not None:
        headers["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), payload


def test_the_page_and_its_files_are_served_with_a_strict_policy(server):
    status, headers, body = request(server, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    for name in re.findall(r'(?:src|href)="(/static/[^"]+)"', body.decode()):
        status, headers, _ = request(server, "GET", name)
        assert status == 200, name
    for path in ("/static/../server.py", "/static/%2e%2e/server.py", "/etc/passwd", "/static/.hidden.js"):
        assert request(server, "GET", path)[0] == 404, path
    status, _, body = request(server, "GET", "/", host="attacker.example:80")
    assert status == 403 and b"unknown Host" in body


def test_every_file_the_page_loads_ships_in_the_package():
    names = set(os.listdir(STATIC_DIR))
    for name in names:
        text = open(os.path.join(STATIC_DIR, name), encoding="utf-8").read()
        assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", text), f"{name} names another site"
        for module in re.findall(r"from '\./([\w-]+\.js)'", text):
            assert module in names, f"{name} imports {module}, which is missing"
    pyproject = open(os.path.join(ROOT, "pyproject.toml"), encoding="utf-8").read()
    assert '"playground/static/*"' in pyproject                         # shipped as package data


def test_api_runs_steps_traces_and_closes(server):
    status, _, body = request(server, "POST", "/api/sessions", {"query": {"hidden": "3", "seed": "2"}})
    run = json.loads(body)
    assert status == 200 and run["query"] == "hidden=3&seed=2" and run["sizes"] == [2, 3, 1]
    key = run["session"]
    status, _, body = request(server, "POST", f"/api/sessions/{key}/step", {"epochs": 5, "since": 1})
    snap = json.loads(body)
    assert snap["epoch"] == 5 and snap["history"]["from"] == 1 and len(snap["history"]["train"]) == 5
    status, _, body = request(server, "GET", f"/api/sessions/{key}/trace?sample=3")
    assert status == 200 and json.loads(body)["epoch"] == 5
    assert json.loads(request(server, "GET", f"/api/sessions/{key}/parameters")[2])["epoch"] == 5
    status, _, body = request(server, "POST", f"/api/sessions/{key}/reset", {"query": {"act": "relu"}})
    assert json.loads(body)["config"]["activation"] == "relu" and json.loads(body)["snapshot"]["epoch"] == 0
    assert request(server, "POST", f"/api/sessions/{key}/close")[0] == 200
    status, _, body = request(server, "GET", f"/api/sessions/{key}/snapshot")
    assert status == 404 and b"expired" in body


@pytest.mark.parametrize("method, path, body, raw, status, message", [
    ("POST", "/api/sessions", {"query": {"lr": "0"}}, None, 400, "lr: must be more than 0"),
    ("POST", "/api/sessions", None, b"{not json", 400, "not JSON"),
    ("POST", "/api/sessions", None, b"[1, 2]", 400, "must be a JSON object"),
    ("POST", "/api/sessions", None, b"x" * 70000, 413, "larger than"),
    ("GET", "/api/sessions", None, None, 404, "no such API"),
    ("GET", "/api/sessions/abcdefghijkl/snapshot", None, None, 404, "expired"),
    ("GET", "/api/nothing", None, None, 404, "no such API"),
])
def test_api_errors_are_json_that_names_the_problem(server, method, path, body, raw, status, message):
    got, headers, payload = request(server, method, path, body, raw=raw)
    assert got == status and headers["Content-Type"] == "application/json"
    assert message in json.loads(payload)["error"]


def test_api_refuses_bad_steps_and_samples(server):
    key = json.loads(request(server, "POST", "/api/sessions", {"query": {}})[2])["session"]
    for body, message in (({"epochs": 0}, "epochs: must be 1 to 5000"), ({"epochs": "3"}, "epochs: must be"),
                          ({"budget_ms": 1e9}, "budget_ms: must be 0 to 2000")):
        status, _, payload = request(server, "POST", f"/api/sessions/{key}/step", body)
        assert status == 400 and message in json.loads(payload)["error"]
    for query, message in (("sample=9", "sample must be 0 to 3"), ("sample=x", "expected an integer"),
                           ("", "sample: missing"), ("sample=1&split=valid", "split must be train or test")):
        status, _, payload = request(server, "GET", f"/api/sessions/{key}/trace?{query}")
        assert status == 400 and message in json.loads(payload)["error"]
    assert request(server, "GET", f"/api/sessions/{key}/step")[0] == 405


def test_many_tabs_at_once_and_old_runs_expire():
    store = SessionStore(max_sessions=3, idle_s=3600)
    keys = [store.create(from_query({"hidden": "1"}))[0] for _ in range(4)]
    assert len(store) == 3
    with pytest.raises(Exception, match="expired"):
        store.get(keys[0])                                  # the least recently used went first
    store.get(keys[1]).last_used -= 7200
    store.create(from_query({}))
    with pytest.raises(Exception, match="expired"):
        store.get(keys[1])


def test_two_runs_training_at_once_in_threads_do_not_disturb_each_other(server):
    keys = [json.loads(request(server, "POST", "/api/sessions", {"query": {"seed": "3"}})[2])["session"]
            for _ in range(2)]
    results = {}

    def train(key):
        for _ in range(5):
            request(server, "POST", f"/api/sessions/{key}/step", {"epochs": 7})
        results[key] = json.loads(request(server, "GET", f"/api/sessions/{key}/snapshot")[2])["history"]["train"]
    threads = [threading.Thread(target=train, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert results[keys[0]] == results[keys[1]] and len(results[keys[0]]) == 36


# ----- the command -------------------------------------------------------------------------------------------------
def test_chainrule_playground_command_serves_and_refuses_a_bad_port():
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "playground", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONIOENCODING="utf-8"))
    try:
        line = proc.stdout.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", "/api/options", headers={"Host": f"localhost:{port}"})
        assert json.loads(conn.getresponse().read())["max_layers"] == 6
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    done = subprocess.run([sys.executable, "-m", "chainrule", "playground", "--port", "70000"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "--port must be 0 to 65535, got 70000" in done.stderr
