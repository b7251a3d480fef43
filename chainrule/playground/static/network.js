// The network as the essay draws it: neurons in columns (each a picture of its output over the input plane),
// weights as edges (blue positive, orange negative, wider when larger), and in step mode the neuron or edge
// whose gradient is being computed, highlighted and labelled with its value.
import { picture, sharpen } from './colors.js';
import { fmt, sub } from './format.js';

export const BOX = 52;
const TOP = 52;          // room above the columns for titles and the +/- neuron buttons
const ROW = 76;
const ACCENT = '#0b5ea8';

/** Where each neuron goes: nodes[k][j] = {x, y} (centre), for layer sizes like [2, 4, 4, 1]. */
export function layout(sizes, width) {
  const most = Math.max(...sizes);
  const height = TOP + most * ROW + 8;
  const left = 34 + BOX / 2;
  const right = width - 34 - BOX / 2;
  const xs = sizes.map((_, k) => left + (k * (right - left)) / Math.max(1, sizes.length - 1));
  const nodes = sizes.map((n, k) => Array.from({ length: n }, (_, j) => ({
    x: xs[k],
    y: TOP + (most - n) * ROW / 2 + j * ROW + ROW / 2,
  })));
  return { width, height, xs, nodes, sizes };
}

export function columnTitle(k, sizes) {
  if (k === 0) return 'input x';
  if (k === sizes.length - 1) return 'output ŷ';
  return `layer ${k}`;
}

function neuronName(k, j, sizes) {
  if (k === 0) return `x${sub(j + 1)}`;
  if (k === sizes.length - 1) return 'ŷ';
  return '';
}

function edgePath(ctx, a, b) {
  const x0 = a.x + BOX / 2;
  const x1 = b.x - BOX / 2;
  const mid = (x0 + x1) / 2;
  ctx.beginPath();
  ctx.moveTo(x0, a.y);
  ctx.bezierCurveTo(mid, a.y, mid, b.y, x1, b.y);
}

/** The point at parameter t of the curve edgePath draws from a to b. */
function edgePoint(a, b, t) {
  const x0 = a.x + BOX / 2;
  const x1 = b.x - BOX / 2;
  const mid = (x0 + x1) / 2;
  const u = 1 - t;
  const x = u * u * u * x0 + 3 * u * u * t * mid + 3 * u * t * t * mid + t * t * t * x1;
  const y = (u * u * u + 3 * u * u * t) * a.y + (3 * u * t * t + t * t * t) * b.y;
  return [x, y];
}

function label(ctx, text, x, y, colour, align = 'center') {
  ctx.font = '11px ui-monospace, Menlo, Consolas, monospace';
  const w = ctx.measureText(text).width;
  const left = align === 'center' ? x - w / 2 : align === 'left' ? x : x - w;
  ctx.fillStyle = 'rgba(255,255,255,0.92)';
  ctx.fillRect(left - 3, y - 8, w + 6, 15);
  ctx.strokeStyle = colour;
  ctx.lineWidth = 1;
  ctx.strokeRect(left - 3, y - 8, w + 6, 15);
  ctx.fillStyle = '#1f2933';
  ctx.textAlign = 'left';
  ctx.fillText(text, left, y + 3.5);
}

/**
 * Draw the network. snapshot: the server's (weights, heat maps); highlight (step mode, optional):
 * {neurons: [{layer, values}], edges: [{layer, values}]}, where layer counts columns (0 = the inputs).
 */
export function drawNetwork(canvas, net, snapshot, highlight) {
  const ctx = sharpen(canvas, net.width, net.height);
  ctx.clearRect(0, 0, net.width, net.height);
  const weights = snapshot.network.weights;
  let biggest = 1e-9;
  for (const W of weights) for (const row of W) for (const w of row) biggest = Math.max(biggest, Math.abs(w ?? 0));
  const litNeurons = new Set(highlight ? highlight.neurons.map((h) => h.layer) : []);
  const litEdges = new Set(highlight ? highlight.edges.map((h) => h.layer) : []);
  const dim = highlight ? 0.22 : 0.85;

  // Edges: weights[k - 1][j][i] joins neuron i of column k - 1 to neuron j of column k.
  for (let k = 1; k < net.sizes.length; k++) {
    const alpha = litEdges.has(k) ? 0.95 : dim;
    weights[k - 1].forEach((row, j) => row.forEach((w, i) => {
      const value = w ?? 0;
      edgePath(ctx, net.nodes[k - 1][i], net.nodes[k][j]);
      ctx.strokeStyle = value >= 0 ? `rgba(8,119,189,${alpha})` : `rgba(245,147,34,${alpha})`;
      ctx.lineWidth = 0.6 + 6 * Math.abs(value) / biggest;
      ctx.stroke();
    }));
  }

  // Neurons: the picture of each one's output over the input plane, then its name.
  const pictures = snapshot.heatmaps.layers;
  net.nodes.forEach((column, k) => column.forEach((p, j) => {
    const b64 = pictures[k] && pictures[k][j];
    ctx.save();
    ctx.globalAlpha = highlight && !litNeurons.has(k) ? 0.55 : 1;
    if (b64) {
      ctx.imageSmoothingEnabled = true;
      ctx.drawImage(picture(b64, snapshot.heatmaps.size), p.x - BOX / 2, p.y - BOX / 2, BOX, BOX);
    }
    ctx.restore();
    ctx.strokeStyle = '#55606b';
    ctx.lineWidth = 1;
    ctx.strokeRect(p.x - BOX / 2 + 0.5, p.y - BOX / 2 + 0.5, BOX - 1, BOX - 1);
    const name = neuronName(k, j, net.sizes);
    if (name) {
      ctx.font = '13px system-ui, sans-serif';
      ctx.fillStyle = '#3e4c59';
      ctx.textAlign = k === 0 ? 'right' : 'left';
      ctx.fillText(name, k === 0 ? p.x - BOX / 2 - 6 : p.x + BOX / 2 + 6, p.y + 4);
    }
  }));

  // Column titles.
  ctx.font = '600 12px system-ui, sans-serif';
  ctx.fillStyle = '#3e4c59';
  ctx.textAlign = 'center';
  net.xs.forEach((x, k) => ctx.fillText(columnTitle(k, net.sizes), x, 14));

  if (!highlight) return;
  // Step mode: the edges being computed get their values; the neurons theirs.
  for (const { layer: k, values } of highlight.edges) {
    values.forEach((row, j) => row.forEach((v, i) => {
      const a = net.nodes[k - 1][i];
      const b = net.nodes[k][j];
      const t = 0.25 + 0.5 * (j + 0.5) / net.sizes[k];     // staggered, so labels of crossing edges part
      const [x, y] = edgePoint(a, b, t);
      label(ctx, fmt(v, 4), x, y, ACCENT);
    }));
  }
  for (const { layer: k, values } of highlight.neurons) {
    values.forEach((v, j) => {
      const p = net.nodes[k][j];
      ctx.strokeStyle = ACCENT;
      ctx.lineWidth = 3;
      ctx.strokeRect(p.x - BOX / 2 - 3, p.y - BOX / 2 - 3, BOX + 6, BOX + 6);
      label(ctx, fmt(v, 4), p.x, p.y + BOX / 2 + 13, ACCENT);
    });
  }
}
