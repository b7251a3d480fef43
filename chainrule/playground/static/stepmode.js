// Backprop step mode: one sample's forward pass, then the backward pass along the essay's five steps,
// each quantity with its chain-rule formula and its three values from chainrule.explain.trace
// (formula, autograd, finite differences), then the update w <- w - η·∂L/∂w.
import { el, fmt, sub } from './format.js';

const WAYS = [['formula', 'formula'], ['autograd', 'autograd'], ['numeric', 'finite diff']];

const STEP = {
  dL_da: (k, last) => (k === last
    ? 'step 1: at the output, ∂L/∂a comes straight from the loss'
    : `step 5, repeat: layer ${k} receives ∂L/∂a${sub(k)} from layer ${k + 1}`),
  dsigma: () => "step 2: the activation's local slope",
  dL_dz: () => 'step 3: the chain rule',
  dL_dW: () => 'step 3: the chain rule, with ∂z/∂W = a_prev',
  dL_db: () => 'step 3: the chain rule, with ∂z/∂b = 1',
  dL_da_prev: (k) => (k > 1 ? 'step 4: pass the gradient back to the layer before' : "step 4: the gradient reaches the input"),
};

const WHY = {
  dL_da: (k, last) => (k === last
    ? 'How much the loss changes when the prediction ŷ moves: the derivative of the loss formula itself.'
    : 'Nothing new is computed here: this is what the layer above handed down. The same steps now repeat one layer closer to the input.'),
  dsigma: () => 'How steeply each neuron’s activation responds to its input z. A saturated sigmoid (output near 0 or 1) has a slope near 0 and lets almost no gradient through.',
  dL_dz: () => 'Multiply what arrived by the local slope: the chain rule, one link.',
  dL_dW: () => 'A weight’s gradient is the gradient at the neuron it feeds times the input it multiplies. These are the numbers the update uses.',
  dL_db: () => 'A bias is added straight into z, so its gradient is ∂L/∂z itself.',
  dL_da_prev: (k) => (k > 1
    ? 'Each neuron of the layer below receives the gradients of the neurons it feeds, weighted by the connecting weights.'
    : 'The gradient with respect to the input x: no layer below needs it, but it is computed the same way.'),
};

function elementNames(name, k, shape, sizes) {
  if (name === 'dL_dW') {
    const [rows, cols] = shape;
    const from = (i) => (k === 1 ? `x${sub(i + 1)}` : `a${sub(k - 1)}[${i + 1}]`);
    return Array.from({ length: rows * cols }, (_, f) => `w[${Math.floor(f / cols) + 1},${(f % cols) + 1}]  ${from(f % cols)} → neuron ${Math.floor(f / cols) + 1}`);
  }
  const n = shape[shape.length - 1];
  const layer = name === 'dL_da_prev' ? k - 1 : k;
  return Array.from({ length: n }, (_, j) => (layer === 0 ? `x${sub(j + 1)}` : layer === sizes.length - 1 && n === 1 ? 'output' : `neuron ${j + 1}`));
}

const flat = (v) => (Array.isArray(v) ? v.flat(Infinity) : [v]);
const shapeOf = (v) => (Array.isArray(v) ? [v.length, ...shapeOf(v[0])] : []);

function cell(key, value) {
  return el('td', { 'data-key': key, 'data-value': String(value), text: fmt(value) });
}

function valuesTable(caption, rowNames, columns) {
  // columns: [{title, key, values: flat array}]
  const table = el('table', { class: 'values' }, el('caption', { text: caption }));
  table.append(el('tr', {}, el('th', { text: '' }), ...columns.map((c) => el('th', { text: c.title }))));
  rowNames.forEach((name, r) => {
    table.append(el('tr', {}, el('td', { text: name }), ...columns.map((c) => cell(`${c.key}.${r}`, c.values[r]))));
  });
  return table;
}

export class StepMode {
  constructor(view, callbacks) {
    this.view = view;              // {root, name, formula, status, body, progress}
    this.callbacks = callbacks;    // {highlight(h)}
    this.trace = null;
    this.steps = [];
    this.at = 0;
  }

  load(trace, sizes) {
    this.trace = trace;
    this.sizes = sizes;
    const last = trace.layers.length;
    this.steps = [{ kind: 'forward' }];
    for (let k = last; k >= 1; k--) {
      for (const name of ['dL_da', 'dsigma', 'dL_dz', 'dL_dW', 'dL_db', 'dL_da_prev']) {
        if (trace.layers[k - 1].checks[name]) this.steps.push({ kind: 'check', layer: k, name });
      }
    }
    this.steps.push({ kind: 'update' });
    this.at = 0;
    this.view.root.hidden = false;
    this.render();
  }

  close() {
    this.trace = null;
    this.view.root.hidden = true;
    this.view.progress.textContent = '';
    this.callbacks.highlight(null);
  }

  move(delta) {
    if (!this.trace) return;
    this.at = Math.max(0, Math.min(this.steps.length - 1, this.at + delta));
    this.render();
  }

  get atEnd() { return this.at === this.steps.length - 1; }

  render() {
    const step = this.steps[this.at];
    const t = this.trace;
    this.view.progress.textContent = `step ${this.at + 1} of ${this.steps.length} · sample ${t.sample} (${t.split}) at epoch ${t.epoch}`;
    this.view.body.replaceChildren();
    this.view.status.className = 'step-status';
    if (step.kind === 'forward') this.renderForward();
    else if (step.kind === 'update') this.renderUpdate();
    else this.renderCheck(step.layer, step.name);
  }

  renderForward() {
    const t = this.trace;
    const last = t.layers.length;
    this.view.name.textContent = 'forward pass: x → z = W·a_prev + b → a = σ(z) → … → ŷ → L';
    this.view.formula.textContent = `L = ${t.loss_kind === 'mse' ? '(ŷ − y)²' : '−y·log ŷ − (1 − y)·log(1 − ŷ)'} = ${fmt(t.loss)}`;
    this.view.status.textContent = '';
    const body = this.view.body;
    body.append(el('p', { text: 'The sample goes through the network once; each layer keeps z and a for the backward pass. The weights are the current ones.' }));
    body.append(valuesTable('input and target', ['x' + sub(1), 'x' + sub(2)], [
      { title: 'x', key: 'forward.x', values: flat(t.x) }]));
    body.append(valuesTable('target', ['y'], [{ title: 'y', key: 'forward.y', values: flat(t.y) }]));
    for (const layer of t.layers) {
      const k = layer.index;
      const n = layer.bias.length;
      const rows = Array.from({ length: n }, (_, j) => (k === last && n === 1 ? 'ŷ' : `neuron ${j + 1}`));
      body.append(valuesTable(`layer ${k} (${layer.activation})`, rows, [
        { title: `b${sub(k)}`, key: `forward.L${k}.bias`, values: flat(layer.bias) },
        { title: `z${sub(k)}`, key: `forward.L${k}.z`, values: flat(layer.z) },
        { title: `a${sub(k)}`, key: `forward.L${k}.a`, values: flat(layer.a) },
      ]));
    }
    body.append(valuesTable('loss', ['L'], [{ title: 'L', key: 'forward.loss', values: [t.loss] }]));
    this.callbacks.highlight({
      neurons: t.layers.map((layer) => ({ layer: layer.index, values: flat(layer.a) })),
      edges: [],
    });
  }

  renderCheck(k, name) {
    const t = this.trace;
    const last = t.layers.length;
    const check = t.layers[k - 1].checks[name];
    this.view.name.textContent = STEP[name](k, last);
    this.view.formula.textContent = `${check.symbol} = ${check.formula_text}`;
    this.view.status.textContent = check.ok
      ? `✓ all three agree (largest difference ${check.max_diff.toExponential(1)})`
      : `✗ the three ways disagree (largest difference ${check.max_diff.toExponential(1)})`;
    this.view.status.classList.add(check.ok ? 'ok' : 'bad');
    this.view.body.append(el('p', { text: WHY[name](k, last) }));
    const shape = shapeOf(check.formula);
    const rows = elementNames(name, k, shape, this.sizes);
    this.view.body.append(valuesTable(`${check.symbol}, layer ${k}`, rows, WAYS.map(([way, title]) => ({
      title, key: `L${k}.${name}.${way}`, values: flat(check[way]),
    }))));
    const values = flat(check.autograd);
    const highlight = { neurons: [], edges: [] };
    if (name === 'dL_dW') highlight.edges.push({ layer: k, values: check.autograd });
    else if (name === 'dL_da_prev') {
      highlight.neurons.push({ layer: k - 1, values });
      highlight.edges.push({ layer: k, values: t.layers[k - 1].weight });
    } else highlight.neurons.push({ layer: k, values });
    this.callbacks.highlight(highlight);
  }

  renderUpdate() {
    const t = this.trace;
    this.view.name.textContent = 'the update: one step of gradient descent';
    this.view.formula.textContent = `w ← w − η·∂L/∂w,  b ← b − η·∂L/∂b   with η = ${t.lr}`;
    this.view.status.textContent = t.loss_went_down
      ? `✓ the loss went down: ${fmt(t.loss)} → ${fmt(t.loss_after)}`
      : `✗ the loss did not go down: ${fmt(t.loss)} → ${fmt(t.loss_after)} (a smaller η?)`;
    this.view.status.classList.add(t.loss_went_down ? 'ok' : 'bad');
    const body = this.view.body;
    body.append(el('p', { text: 'What one plain gradient-descent step on this sample alone would do (shown, not applied: training uses the optimizer, batch and L2 chosen above).' }));
    for (const layer of t.layers) {
      const k = layer.index;
      const cols = layer.weight[0].length;
      const wNames = flat(layer.weight).map((_, f) => `w[${Math.floor(f / cols) + 1},${(f % cols) + 1}]`);
      const grad = layer.checks.dL_dW.formula;
      body.append(valuesTable(`W${sub(k)}`, wNames, [
        { title: 'before', key: `update.L${k}.weight`, values: flat(layer.weight) },
        { title: '∂L/∂w', key: `update.L${k}.dL_dW`, values: flat(grad) },
        { title: 'after', key: `update.L${k}.weight_after`, values: flat(layer.weight_after) },
      ]));
      body.append(valuesTable(`b${sub(k)}`, layer.bias.map((_, j) => `b[${j + 1}]`), [
        { title: 'before', key: `update.L${k}.bias`, values: flat(layer.bias) },
        { title: 'after', key: `update.L${k}.bias_after`, values: flat(layer.bias_after) },
      ]));
    }
    body.append(valuesTable('loss on this sample', ['L'], [
      { title: 'before', key: 'update.loss', values: [t.loss] },
      { title: 'after', key: 'update.loss_after', values: [t.loss_after] },
    ]));
    this.callbacks.highlight({
      neurons: [],
      edges: t.layers.map((layer) => ({ layer: layer.index, values: layer.weight_after })),
    });
  }
}
