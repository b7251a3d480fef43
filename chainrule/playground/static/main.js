// chainrule playground: the page. The Python side (chainrule) trains; this draws what it sends.
// State lives in the address bar (?data=...&hidden=...&seed=...), so a link reproduces a run.
import { api, ApiError } from './api.js';
import { drawBoundary, nearestTrainingPoint } from './boundary.js';
import { LAYER_COLOURS, lineChart } from './charts.js';
import { CHOICES, dataButtons, fillMenus, neuronButtons, showValue } from './controls.js';
import { fmtLoss, fmtPercent } from './format.js';
import { drawNetwork, layout } from './network.js';
import { StepMode } from './stepmode.js';

const $ = (id) => document.getElementById(id);

const state = {
  options: null,          // /api/options: choices, limits, defaults, URL keys
  query: {},              // URL key -> text: the settings that differ from the defaults
  session: null,
  run: null,              // the run's fixed facts: config, sizes, points, domain
  snapshot: null,
  history: { train: [], test: [], grads: [] },
  playing: false,
  busy: false,
  highlight: null,
  net: null,
};

const stepMode = new StepMode(
  { root: $('trace-view'), name: $('step-name'), formula: $('step-formula'), status: $('step-status'),
    body: $('step-body'), progress: $('trace-progress') },
  { highlight: (h) => { state.highlight = h; drawNet(); } },
);

// ----- messages --------------------------------------------------------------------------------------
function showError(message, items = []) {
  $('error').replaceChildren(message);
  if (items.length) {
    const list = document.createElement('ul');
    for (const item of items) list.append(Object.assign(document.createElement('li'), { textContent: item }));
    $('error').append(list);
  }
  $('error').hidden = false;
}

function clearError() {
  $('error').hidden = true;
  $('error').textContent = '';
}

// ----- runs ------------------------------------------------------------------------------------------
function urlQuery() {
  const query = {};
  for (const [key, value] of new URLSearchParams(window.location.search)) query[key] = value;
  return query;
}

/** Start a run for `query`; a bad parameter is shown and dropped (its default used), then we try again. */
async function start(query, path = '/api/sessions') {
  const problems = [];
  for (let attempt = 0; attempt < 16; attempt++) {
    try {
      const data = await api('POST', path, { query });
      if (problems.length) showError('This link has settings the playground cannot use; their defaults are running:', problems);
      else clearError();
      return applyRun(data);
    } catch (e) {
      if (e instanceof ApiError && e.status === 400 && e.parameter && e.parameter in query) {
        problems.push(e.message);
        delete query[e.parameter];
        continue;
      }
      if (e instanceof ApiError && e.status === 404 && path !== '/api/sessions') {
        path = '/api/sessions';                     // the run expired: start a fresh one
        continue;
      }
      showError(e.message);
      throw e;
    }
  }
  return null;
}

function applyRun(data) {
  state.session = data.session;
  state.run = data;
  state.query = Object.fromEntries(new URLSearchParams(data.query));
  state.history = { train: [], test: [], grads: [] };
  document.body.dataset.session = data.session;
  window.history.replaceState(null, '', data.query ? `?${data.query}` : window.location.pathname);
  stepMode.close();
  showControls(data.config);
  fillSamples();
  state.net = null;
  merge(data.snapshot);
  render();
}

/** Apply a change of settings: a new run from the same seed (a link must reproduce what you see). */
async function change(key, value) {
  pause();
  const query = { ...state.query };
  const field = state.options.keys[key];
  const isDefault = field === 'hidden'
    ? value === state.options.defaults.hidden.join(',')
    : String(value) === String(state.options.defaults[field]);
  if (isDefault) delete query[key]; else query[key] = String(value);
  try {
    const data = await api('POST', `/api/sessions/${state.session}/reset`, { query });
    clearError();
    applyRun(data);
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) { await start(query); return; }
    showError(e.message);
    showControls(state.run.config);            // the menus go back to what is running
  }
}

function merge(snapshot) {
  const h = snapshot.history;
  const mine = state.history;
  if (h.from < mine.train.length) {
    mine.train.length = h.from; mine.test.length = h.from; mine.grads.length = h.from;
  }
  mine.train.push(...h.train);
  mine.test.push(...h.test);
  mine.grads.push(...h.grad_norms);
  state.snapshot = snapshot;
  if (snapshot.diverged) {
    pause();
    showError('The loss is no longer a number: training diverged. Lower the learning rate (or reset).');
  }
}

// ----- training --------------------------------------------------------------------------------------
function pause() {
  state.playing = false;
  $('play').textContent = '▶';
  $('play').classList.remove('playing');
}

async function trainOnce(body) {
  state.busy = true;
  document.body.dataset.busy = 'true';
  try {
    const snapshot = await api('POST', `/api/sessions/${state.session}/step`,
      { ...body, since: state.history.train.length });
    merge(snapshot);
    render();
  } catch (e) {
    pause();
    if (e instanceof ApiError && e.status === 404) await start({ ...state.query });
    else showError(e.message);
  } finally {
    state.busy = false;
    document.body.dataset.busy = 'false';      // tests wait on this: no step is on its way
  }
}

function tick() {
  if (!state.playing) return;
  if (!state.busy) {
    const speed = $('speed').value;
    trainOnce(speed === 'max' ? { budget_ms: 80 } : { epochs: Number(speed) });
  }
  requestAnimationFrame(tick);
}

// ----- drawing ---------------------------------------------------------------------------------------
function drawNet() {
  if (!state.snapshot) return;
  const width = $('net-wrap').clientWidth;
  if (!state.net || state.net.width !== width) {
    state.net = layout(state.run.sizes, width);
    neuronButtons($('neuron-buttons'), state.net.xs, state.run.config.hidden, state.options.max_neurons,
      (i, n) => {
        const hidden = [...state.run.config.hidden];
        hidden[i] = n;
        change('hidden', hidden.join(','));
      });
  }
  drawNetwork($('network'), state.net, state.snapshot, state.highlight);
}

function render() {
  const s = state.snapshot;
  $('epoch').textContent = s.epoch.toLocaleString('en-US');
  $('epoch').dataset.value = String(s.epoch);
  $('train-loss').textContent = fmtLoss(s.train_loss);
  $('train-loss').dataset.value = String(s.train_loss);
  $('test-loss').textContent = s.test_loss === null ? 'none' : fmtLoss(s.test_loss);
  $('test-loss').dataset.value = String(s.test_loss);
  $('train-acc').textContent = fmtPercent(s.train_accuracy);
  $('test-acc').textContent = fmtPercent(s.test_accuracy);
  drawNet();
  drawBoundary($('boundary'), state.run, s, stepMode.trace ? { index: stepMode.trace.sample, split: 'train' } : null);
  lineChart($('loss-chart'), [
    { values: state.history.train, colour: '#17324d', label: 'train' },
    ...(state.run.n_test ? [{ values: state.history.test, colour: '#f59322', label: 'test' }] : []),
  ], { legend: true });
  const layers = state.run.sizes.length - 1;
  lineChart($('grad-chart'), Array.from({ length: layers }, (_, k) => ({
    values: state.history.grads.map((g) => g[k]),
    colour: LAYER_COLOURS[k % LAYER_COLOURS.length],
    label: k === 0 ? 'W₁ (input side)' : k === layers - 1 ? `W${k + 1} (output)` : `W${k + 1}`,
  })), { logY: true, legend: true });
}

// ----- settings on the page ----------------------------------------------------------------------------
function showControls(config) {
  for (const key of Object.keys(CHOICES)) showValue(key, config[state.options.keys[key]]);
  $('seed').value = String(config.seed);
  $('noise').value = String(config.noise);
  $('split').value = String(config.test_fraction);
  $('noise-value').textContent = String(config.noise);
  $('split-value').textContent = `${Math.round(config.test_fraction * 100)}%`;
  const xor = config.dataset === 'xor';
  $('noise').disabled = xor;
  $('split').disabled = xor;
  $('data-note').textContent = xor
    ? "xor: the essay's four points, all of them training points (so no noise, no test set)."
    : `${state.run.n_train} training points (white rim) and ${state.run.n_test} test points (dark rim).`;
  for (const button of document.querySelectorAll('.dataset')) {
    button.classList.toggle('active', button.dataset.dataset === config.dataset);
  }
  const n = config.hidden.length;
  $('layer-count').textContent = `${n} hidden layer${n === 1 ? '' : 's'}`;
  $('add-layer').disabled = n >= state.options.max_layers;
  $('remove-layer').disabled = n === 0;
}

function fillSamples() {
  const select = $('sample');
  select.replaceChildren();
  let i = 0;
  for (const [x1, x2, label, isTest] of state.run.points) {
    if (isTest) continue;
    const text = state.run.config.dataset === 'xor'
      ? `${i}: x = [${x1}, ${x2}], y = ${label}`
      : `${i}: x = (${x1.toFixed(2)}, ${x2.toFixed(2)}), y = ${label}`;
    select.append(new Option(text, String(i)));
    i++;
  }
  if (state.run.config.dataset === 'xor') select.value = '1';      // the essay's [0 1] -> 1
}

async function traceSample() {
  pause();
  try {
    const trace = await api('GET', `/api/sessions/${state.session}/trace?sample=${$('sample').value}&split=train`);
    stepMode.load(trace, state.run.sizes);
    for (const id of ['trace-prev', 'trace-next', 'trace-close']) $(id).disabled = false;
    updateTraceButtons();
    render();
  } catch (e) {
    showError(e.message);
  }
}

function closeTrace() {
  stepMode.close();
  for (const id of ['trace-prev', 'trace-next', 'trace-close']) $(id).disabled = true;
  render();
}

function updateTraceButtons() {
  $('trace-prev').disabled = !stepMode.trace || stepMode.at === 0;
  $('trace-next').disabled = !stepMode.trace || stepMode.atEnd;
}

function wire() {
  fillMenus();
  dataButtons($('datasets'), state.options.datasets, (name) => change('data', name));
  for (const key of Object.keys(CHOICES)) $(key).addEventListener('change', (e) => change(key, e.target.value));
  $('seed').addEventListener('change', (e) => change('seed', e.target.value.trim()));
  $('reseed').addEventListener('click', () => change('seed', String(Math.floor(Math.random() * 100000))));
  $('noise').addEventListener('input', (e) => { $('noise-value').textContent = e.target.value; });
  $('noise').addEventListener('change', (e) => change('noise', e.target.value));
  $('split').addEventListener('input', (e) => { $('split-value').textContent = `${Math.round(e.target.value * 100)}%`; });
  $('split').addEventListener('change', (e) => change('split', e.target.value));
  $('add-layer').addEventListener('click', () => {
    const hidden = [...state.run.config.hidden];
    hidden.push(hidden.length ? hidden[hidden.length - 1] : 2);
    change('hidden', hidden.join(','));
  });
  $('remove-layer').addEventListener('click', () => change('hidden', state.run.config.hidden.slice(0, -1).join(',')));
  $('play').addEventListener('click', () => {
    if (state.playing) { pause(); return; }
    if (stepMode.trace) closeTrace();
    state.playing = true;
    $('play').textContent = '❚❚';
    $('play').classList.add('playing');
    requestAnimationFrame(tick);
  });
  $('step').addEventListener('click', () => {
    pause();
    if (stepMode.trace) closeTrace();
    if (!state.busy) trainOnce({ epochs: 1 });
  });
  $('reset').addEventListener('click', () => change('seed', String(state.run.config.seed)));
  $('trace-start').addEventListener('click', traceSample);
  $('trace-next').addEventListener('click', () => { stepMode.move(1); updateTraceButtons(); });
  $('trace-prev').addEventListener('click', () => { stepMode.move(-1); updateTraceButtons(); });
  $('trace-close').addEventListener('click', closeTrace);
  $('boundary').addEventListener('click', (e) => {
    const box = e.target.getBoundingClientRect();
    const index = nearestTrainingPoint(state.run, e.clientX - box.left, e.clientY - box.top);
    if (index >= 0) { $('sample').value = String(index); traceSample(); }
  });
  document.addEventListener('keydown', (e) => {
    if (!stepMode.trace || e.target.tagName === 'INPUT' || e.target.tagName === 'SELECT') return;
    if (e.key === 'ArrowRight') { stepMode.move(1); updateTraceButtons(); }
    if (e.key === 'ArrowLeft') { stepMode.move(-1); updateTraceButtons(); }
  });
  window.addEventListener('resize', () => { if (state.snapshot) { state.net = null; render(); } });
  window.addEventListener('pagehide', () => {
    if (state.session) navigator.sendBeacon(`/api/sessions/${state.session}/close`);
  });
}

async function main() {
  try {
    state.options = await api('GET', '/api/options');
  } catch (e) {
    showError(e.message);
    return;
  }
  wire();
  await start(urlQuery());
  document.body.dataset.ready = 'true';
}

main();
