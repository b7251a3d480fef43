// The output neuron over the input plane (the decision boundary) with the data points on top.
import { BLUE, ORANGE, picture, sharpen } from './colors.js';

const SIZE = 300;

function toPixel(domain, x1, x2) {
  const [x0, xMax, y0, yMax] = domain;
  return [((x1 - x0) / (xMax - x0)) * SIZE, ((yMax - x2) / (yMax - y0)) * SIZE];
}

/** run: {points, domain}; selected: {index, split} of the traced sample, or null. */
export function drawBoundary(canvas, run, snapshot, selected) {
  const ctx = sharpen(canvas, SIZE, SIZE);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(picture(snapshot.boundary.values, snapshot.boundary.size, 0.45), 0, 0, SIZE, SIZE);
  // the 0.5 contour, where the prediction changes class, is where the colour turns through grey
  const radius = run.points.length <= 8 ? 8 : 4;
  let trainIndex = 0;
  let testIndex = 0;
  for (const [x1, x2, label, isTest] of run.points) {
    const [px, py] = toPixel(run.domain, x1, x2);
    const index = isTest ? testIndex++ : trainIndex++;
    ctx.beginPath();
    ctx.arc(px, py, radius, 0, 2 * Math.PI);
    ctx.fillStyle = label ? BLUE : ORANGE;
    ctx.fill();
    ctx.lineWidth = isTest ? 1.6 : 1.2;
    ctx.strokeStyle = isTest ? '#1f2933' : 'white';
    ctx.stroke();
    if (selected && selected.index === index && selected.split === (isTest ? 'test' : 'train')) {
      ctx.beginPath();
      ctx.arc(px, py, radius + 5, 0, 2 * Math.PI);
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = '#0b5ea8';
      ctx.stroke();
    }
  }
  // axes: the input plane's extent
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillStyle = 'rgba(31,41,51,0.7)';
  ctx.textAlign = 'left';
  ctx.fillText(`x₁ ${run.domain[0].toFixed(1)} … ${run.domain[1].toFixed(1)}`, 6, SIZE - 6);
  ctx.textAlign = 'right';
  ctx.fillText(`x₂ ${run.domain[2].toFixed(1)} … ${run.domain[3].toFixed(1)}`, SIZE - 6, 14);
}

/** The training point nearest to a click at (x, y) CSS pixels inside the canvas: its index, or -1. */
export function nearestTrainingPoint(run, x, y) {
  let best = -1;
  let bestDistance = Infinity;
  let index = 0;
  for (const [x1, x2, , isTest] of run.points) {
    if (isTest) continue;
    const [px, py] = toPixel(run.domain, x1, x2);
    const d = (px - x) ** 2 + (py - y) ** 2;
    if (d < bestDistance) { bestDistance = d; best = index; }
    index++;
  }
  return bestDistance <= 20 * 20 ? best : -1;
}
