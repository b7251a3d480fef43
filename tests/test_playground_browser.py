"""``chainrule playground`` in a real browser (headless Chromium driven by selenium).

The server runs as the user starts it (``python -m chainrule playground --port 0``). The tests press
play and watch the XOR loss fall; step through backprop step mode and compare every number on the
page with :func:`chainrule.explain.trace` computed here for the same weights and sample; check that the
page asks nothing of the network beyond 127.0.0.1; reproduce a run from its link; show bad link
parameters on the page; run two tabs and close one. Screenshots go to build/screenshots/.
Without Chromium, chromedriver or selenium every test here is skipped, and ``make test`` says so.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

import browser
import chainrule
from chainrule.explain import trace
from chainrule.playground.config import from_query
from chainrule.playground.data import make_data
from chainrule.tools.models import init_weights, mlp

pytestmark = pytest.mark.browser
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def server():
    """``chainrule playground --port 0`` in a subprocess; yields its URL (http://127.0.0.1:PORT/)."""
    reason = browser.missing()
    if reason:
        pytest.skip(f"browser tests skipped: {reason}")
    proc = subprocess.Popen([sys.executable, "-m", "chainrule", "playground", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONIOENCODING="utf-8"))
    try:
        line = proc.stdout.readline()
        match = re.search(r"open (http://127\.0\.0\.1:\d+/) in your browser", line)
        assert match, f"the server printed {line!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
        yield match.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def page(tmp_path):
    driver = browser.start(str(tmp_path / "profile"))
    try:
        yield driver
    finally:
        driver.quit()


def wait_for(driver, js, timeout=120, message=""):
    """Poll the JavaScript expression ``js`` until it is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(f"return ({js});")
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {js} {message}")
        time.sleep(0.1)


def open_page(driver, url):
    driver.get(url)
    wait_for(driver, "document.body.dataset.ready === 'true'", message="(the page did not start)")
    return driver.execute_script("return document.body.dataset.session")


def pause(driver):
    """Press pause and wait until no training step is on its way (so what the page shows stays put)."""
    click(driver, "play")
    wait_for(driver, "document.body.dataset.busy !== 'true'")


def value_of(driver, element_id):
    return driver.execute_script(f"return document.getElementById('{element_id}').dataset.value")


def click(driver, element_id):
    driver.execute_script(f"document.getElementById('{element_id}').click()")


def api_get(url, path):
    with urllib.request.urlopen(url.rstrip("/") + path, timeout=60) as response:
        return json.loads(response.read())


# ----- play: the loss falls ----------------------------------------------------------------------------------
def test_play_makes_the_xor_loss_fall(server, page):
    open_page(page, server)
    assert page.execute_script("return window.location.search") == ""          # the defaults: the essay's XOR
    first = float(value_of(page, "train-loss"))
    # The same network built here from the same seed has the same loss before training (MSE on XOR).
    config = from_query({})
    chainrule.manual_seed(config.seed)
    model = init_weights(mlp(config.sizes(), config.activation, output_activation="sigmoid"), config.init).double()
    X, y = chainrule.datasets.xor()
    assert first == pytest.approx(((model(X.double()) - y.double()) ** 2).mean().item(), rel=1e-12)

    page.execute_script("document.getElementById('speed').value = '100'")
    click(page, "play")
    wait_for(page, "Number(document.getElementById('epoch').dataset.value) >= 2500",
             message="(training did not advance)")
    pause(page)
    last = float(value_of(page, "train-loss"))
    assert last < first / 10, (first, last)
    assert page.find_element("id", "train-acc").text == "100.0% right"
    assert page.find_element("id", "error").get_attribute("hidden")
    browser.screenshot(page, "playground-xor.png")


# ----- backprop step mode: every number equals explain.trace's -------------------------------------------------
def read_cells(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('#step-body [data-key]')]"
        ".map(c => [c.dataset.key, c.dataset.value, c.textContent])")


def expected_value(record, key):
    """The number ``key`` (e.g. 'L2.dL_dW.numeric.3', 'forward.L1.z.0', 'update.loss') names in a Trace."""
    parts = key.split(".")
    if parts[0] == "forward":
        if parts[1] in ("x", "y"):
            return np.ravel(getattr(record, parts[1]))[int(parts[2])]
        if parts[1] == "loss":
            return record.loss
        layer = record.layers[int(parts[1][1:]) - 1]
        return np.ravel(getattr(layer, parts[2]))[int(parts[3])]
    if parts[0] == "update":
        if parts[1] in ("loss", "loss_after"):
            return getattr(record, parts[1])
        layer = record.layers[int(parts[1][1:]) - 1]
        array = layer.dL_dW.formula if parts[2] == "dL_dW" else getattr(layer, parts[2])
        return np.ravel(array)[int(parts[3])]
    layer = record.layers[int(parts[0][1:]) - 1]
    check = getattr(layer, parts[1])
    return np.ravel(getattr(check, parts[2]))[int(parts[3])]


def test_step_mode_shows_explain_trace_for_the_same_weights_and_sample(server, page):
    query = "?hidden=3,2&act=tanh&loss=bce&lr=0.5&seed=3"
    session = open_page(page, server + query)
    for _ in range(3):                                                             # train three epochs first
        epoch = int(value_of(page, "epoch"))
        click(page, "step")
        wait_for(page, f"Number(document.getElementById('epoch').dataset.value) === {epoch + 1}")
    page.execute_script("const s = document.getElementById('sample'); s.value = '2';")
    click(page, "trace-start")
    wait_for(page, "!document.getElementById('trace-view').hidden")

    seen = {}
    steps = 0
    while True:
        steps += 1
        name = page.find_element("id", "step-name").text
        formula = page.find_element("id", "step-formula").text
        assert name and formula
        for key, value, text in read_cells(page):
            seen[key] = (float(value), text)
        if steps == 5:                                    # ∂L/∂W of the output layer: its edges are lit
            browser.screenshot(page, "playground-step-mode.png")
        if page.execute_script("return document.getElementById('trace-next').disabled"):
            break
        click(page, "trace-next")
    # forward + (6 quantities x 3 layers) + update
    assert steps == 1 + 6 * 3 + 1

    # The same trace, computed here: the network rebuilt from the page's config and the server's weights.
    config = from_query({"hidden": "3,2", "act": "tanh", "loss": "bce", "lr": "0.5", "seed": "3"})
    params = api_get(server, f"/api/sessions/{session}/parameters")
    assert params["epoch"] == 3
    model = mlp(config.sizes(), config.activation, output_activation="sigmoid").double()
    linears = [m for m in model if isinstance(m, chainrule.nn.Linear)]
    with chainrule.no_grad():
        for m, W, b in zip(linears, params["weights"], params["biases"]):
            m.weight.copy_(chainrule.tensor(W, dtype=chainrule.float64))
            m.bias.copy_(chainrule.tensor(b, dtype=chainrule.float64))
    data = make_data(config)
    record = trace(model, chainrule.tensor(data.X_train[2:3]), chainrule.tensor(data.y_train[2:3]), "bce", lr=0.5)
    assert record.ok

    n_expected = (2 + 1 + sum(3 * len(layer.bias) for layer in record.layers) + 1          # forward
                  + sum(3 * c.formula.size for layer in record.layers for c in layer.checks)  # backward
                  + sum(3 * layer.weight.size + 2 * layer.bias.size for layer in record.layers) + 2)  # update
    assert len(seen) == n_expected
    for key, (value, text) in seen.items():
        expected = float(expected_value(record, key))
        assert value == expected, key                             # the page holds explain.trace's number exactly
        assert float(text) == pytest.approx(expected, rel=1e-5, abs=1e-12), (key, text)   # and shows 6 digits


# ----- nothing beyond 127.0.0.1 --------------------------------------------------------------------------------
def test_the_page_asks_nothing_of_the_network_beyond_localhost(server, page):
    open_page(page, server + "?data=moons&hidden=4")
    click(page, "play")
    wait_for(page, "Number(document.getElementById('epoch').dataset.value) >= 20")
    pause(page)
    click(page, "trace-start")
    wait_for(page, "!document.getElementById('trace-view').hidden")
    requested = []
    for entry in page.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            requested.append(message["params"]["request"]["url"])
    resources = page.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert requested and resources
    for url in requested + resources:
        scheme = url.split(":", 1)[0]
        if scheme in ("http", "https", "ws", "wss", "ftp"):          # what reaches the network
            assert url.startswith(server), url
        else:                                                          # in-browser: page data, Chromium's own UI
            assert scheme in ("data", "blob", "about", "chrome"), url
    assert any(u.endswith("/static/main.js") for u in requested)
    # Every response forbids loading from anywhere else.
    with urllib.request.urlopen(server, timeout=30) as response:
        csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp and "http" not in csp


# ----- a link reproduces a run; two tabs; a closed tab ----------------------------------------------------------
def test_a_link_reproduces_a_run_in_a_second_tab_and_closing_a_tab_breaks_nothing(server, page):
    query = "?data=circles&noise=0.2&hidden=4,3&act=relu&opt=adam&lr=0.03&batch=10&seed=7"
    first = open_page(page, server + query)
    assert page.execute_script("return window.location.search") == query
    for element, expected in (("lr", "0.03"), ("act", "relu"), ("opt", "adam"), ("batch", "10"), ("seed", "7")):
        assert page.execute_script(f"return document.getElementById('{element}').value") == expected
    assert page.execute_script("return document.querySelector('.dataset.active').dataset.dataset") == "circles"
    page.execute_script("document.getElementById('speed').value = '10'")
    click(page, "play")
    wait_for(page, "Number(document.getElementById('epoch').dataset.value) >= 40")
    pause(page)
    epoch = int(value_of(page, "epoch"))
    loss = value_of(page, "train-loss")
    browser.screenshot(page, "playground-circles.png")

    # A second tab with the same link, trained to the same epoch in different steps: the same numbers.
    page.switch_to.new_window("tab")
    second = open_page(page, server + query)
    assert second != first
    page.execute_script("document.getElementById('speed').value = '1'")
    click(page, "play")
    wait_for(page, f"Number(document.getElementById('epoch').dataset.value) >= {epoch - 20}")
    pause(page)
    while int(value_of(page, "epoch")) < epoch:
        before = int(value_of(page, "epoch"))
        click(page, "step")
        wait_for(page, f"Number(document.getElementById('epoch').dataset.value) > {before}")
    assert int(value_of(page, "epoch")) == epoch
    assert value_of(page, "train-loss") == loss

    # Close the first tab while the second trains: the second goes on.
    click(page, "play")
    tabs = page.window_handles
    page.switch_to.window(tabs[0])
    page.close()
    page.switch_to.window(tabs[1])
    start = int(value_of(page, "epoch"))
    wait_for(page, f"Number(document.getElementById('epoch').dataset.value) >= {start + 20}")
    pause(page)
    assert page.find_element("id", "error").get_attribute("hidden")


# ----- editing the network; bad parameters ---------------------------------------------------------------------
def test_editing_the_network_updates_the_drawing_and_the_link(server, page):
    open_page(page, server)
    click(page, "add-layer")
    wait_for(page, "window.location.search === '?hidden=2,2'")
    page.execute_script("document.querySelector('.neuron-control[data-layer=\"2\"] button:last-child').click()")
    wait_for(page, "window.location.search === '?hidden=2,3'")
    assert page.find_element("id", "layer-count").text == "2 hidden layers"
    page.execute_script("document.getElementById('act').value = 'tanh';"
                        "document.getElementById('act').dispatchEvent(new Event('change'))")
    wait_for(page, "window.location.search === '?hidden=2,3&act=tanh'")
    params = api_get(server, f"/api/sessions/{page.execute_script('return document.body.dataset.session')}/parameters")
    assert [np.shape(W) for W in params["weights"]] == [(2, 2), (3, 2), (1, 3)]


def test_bad_parameters_in_a_link_are_shown_on_the_page(server, page):
    open_page(page, server + "?lr=-1&hidden=99&data=mnist&seed=x")
    error = page.find_element("id", "error")
    assert not error.get_attribute("hidden")
    text = error.text
    assert "lr: must be more than 0 and at most 100, got -1" in text
    assert "hidden: each layer needs 1 to 8 neurons, got '99'" in text
    assert "data: must be one of xor, circles, moons, spirals, blobs, got 'mnist'" in text
    assert "seed: expected an integer, got 'x'" in text
    assert page.execute_script("return window.location.search") == ""             # the defaults are running
    click(page, "step")
    wait_for(page, "Number(document.getElementById('epoch').dataset.value) === 1")
    browser.screenshot(page, "playground-bad-link.png")
