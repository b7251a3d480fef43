// The settings on the page: data sets, hyper-parameter menus, seed, and the +/- buttons of the network.
import { BLUE, ORANGE } from './colors.js';
import { el } from './format.js';

export const CHOICES = {
  lr: ['0.00001', '0.0001', '0.001', '0.003', '0.01', '0.03', '0.1', '0.3', '1', '2', '3', '10'],
  act: [['sigmoid', 'sigmoid σ'], ['tanh', 'tanh'], ['relu', 'ReLU']],
  loss: [['mse', 'MSE (ŷ − y)²'], ['bce', 'cross-entropy (BCE)']],
  opt: [['sgd', 'SGD'], ['momentum', 'SGD + momentum 0.9'], ['adam', 'Adam']],
  batch: [['0', 'all points (full batch)'], '1', '4', '10', '30'],
  l2: ['0', '0.0001', '0.001', '0.01', '0.1'],
  init: [['default', 'nn.Linear default'], ['normal', 'N(0, 1) (the essay)'], ['xavier', 'Xavier'], ['kaiming', 'Kaiming']],
};

const DATA_LABELS = { xor: 'xor', circles: 'circles', moons: 'moons', spirals: 'spirals', blobs: 'blobs' };

/** Fill each <select data-key> with its choices. */
export function fillMenus() {
  for (const [key, options] of Object.entries(CHOICES)) {
    const select = document.getElementById(key);
    for (const option of options) {
      const [value, text] = Array.isArray(option) ? option : [option, option];
      select.append(el('option', { value, text }));
    }
  }
}

/** Show ``value`` in a menu, adding it as a choice when a link asked for a value the menu lacks (lr=0.5). */
export function showValue(key, value) {
  const node = document.getElementById(key);
  const text = String(value);
  if (node.tagName === 'SELECT') {
    const wanted = [...node.options].find((o) => Number(o.value) === Number(text) || o.value === text);
    if (wanted) node.value = wanted.value;
    else {
      node.append(el('option', { value: text, text }));
      node.value = text;
    }
  } else {
    node.value = text;
  }
}

// Tiny pictures of each data set, drawn here (no images to load).
function thumbnail(name) {
  const canvas = el('canvas', { width: 112, height: 112 });
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#eef1f4';
  ctx.fillRect(0, 0, 112, 112);
  let seed = 7;
  const rand = () => { seed = (seed * 16807) % 2147483647; return seed / 2147483647; };
  const dot = (x, y, cls, r = 4) => {
    ctx.beginPath();
    ctx.arc(56 + x * 44, 56 - y * 44, r, 0, 2 * Math.PI);
    ctx.fillStyle = cls ? BLUE : ORANGE;
    ctx.fill();
  };
  if (name === 'xor') {
    [[-0.6, -0.6, 0], [-0.6, 0.6, 1], [0.6, -0.6, 1], [0.6, 0.6, 0]].forEach(([x, y, c]) => dot(x, y, c, 9));
  } else if (name === 'circles') {
    for (let i = 0; i < 40; i++) { const t = rand() * 6.283; dot(Math.cos(t) * 0.9, Math.sin(t) * 0.9, 0); }
    for (let i = 0; i < 24; i++) { const t = rand() * 6.283; dot(Math.cos(t) * 0.35, Math.sin(t) * 0.35, 1); }
  } else if (name === 'moons') {
    for (let i = 0; i < 30; i++) { const t = rand() * Math.PI; dot(Math.cos(t) * 0.6 - 0.3, Math.sin(t) * 0.6 - 0.1, 0); }
    for (let i = 0; i < 30; i++) { const t = rand() * Math.PI; dot(0.3 - Math.cos(t) * 0.6, 0.1 - Math.sin(t) * 0.6, 1); }
  } else if (name === 'spirals') {
    for (let c = 0; c < 2; c++) {
      for (let i = 0; i < 34; i++) { const r = i / 34; const t = c * Math.PI + r * 4.2; dot(r * Math.sin(t) * 0.95, r * Math.cos(t) * 0.95, c, 3.2); }
    }
  } else {
    for (let i = 0; i < 30; i++) dot(-0.45 + (rand() - 0.5) * 0.6, -0.45 + (rand() - 0.5) * 0.6, 0);
    for (let i = 0; i < 30; i++) dot(0.45 + (rand() - 0.5) * 0.6, 0.45 + (rand() - 0.5) * 0.6, 1);
  }
  return canvas;
}

/** One button per data set; ``choose(name)`` is called on a click. */
export function dataButtons(container, names, choose) {
  for (const name of names) {
    const button = el('button', { class: 'dataset', title: name, 'data-dataset': name }, thumbnail(name),
      el('span', { text: DATA_LABELS[name] || name }));
    button.addEventListener('click', () => choose(name));
    container.append(button);
  }
}

/** The [−] N [+] buttons above each hidden layer of the network drawing. */
export function neuronButtons(container, xs, hidden, maxNeurons, change) {
  container.replaceChildren();
  hidden.forEach((n, i) => {
    const minus = el('button', { class: 'flat', text: '−', title: `One neuron fewer in layer ${i + 1}`, disabled: n <= 1 });
    const plus = el('button', { class: 'flat', text: '+', title: `One neuron more in layer ${i + 1}`, disabled: n >= maxNeurons });
    minus.addEventListener('click', () => change(i, n - 1));
    plus.addEventListener('click', () => change(i, n + 1));
    const box = el('div', { class: 'neuron-control', 'data-layer': String(i + 1) }, minus,
      el('span', { text: `${n} neuron${n === 1 ? '' : 's'}` }), plus);
    box.style.left = `${xs[i + 1]}px`;
    box.style.top = '22px';
    container.append(box);
  });
}
