// Line charts drawn on a canvas: the loss per epoch, and ‖∂L/∂W‖ per layer (log scale).
import { sharpen } from './colors.js';
import { fmt } from './format.js';

export const LAYER_COLOURS = ['#0b5ea8', '#2f855a', '#b7791f', '#805ad5', '#d53f8c', '#319795', '#e53e3e'];

/**
 * series: [{values: [number|null], colour, label}], x = the index (epoch). opts: {logY, height}.
 * Long histories are thinned to one point per pixel column (the last value is always drawn).
 */
export function lineChart(canvas, series, opts = {}) {
  const width = canvas.clientWidth || Number(canvas.getAttribute('width'));
  const height = opts.height || Number(canvas.getAttribute('height'));
  const ctx = sharpen(canvas, width, height);
  const pad = { left: 46, right: 8, top: 8, bottom: opts.legend ? 34 : 18 };
  ctx.clearRect(0, 0, width, height);
  const n = Math.max(0, ...series.map((s) => s.values.length));
  const finite = series.flatMap((s) => s.values.filter((v) => v !== null && Number.isFinite(v) && (!opts.logY || v > 0)));
  ctx.strokeStyle = '#dfe3e8';
  ctx.strokeRect(pad.left + 0.5, pad.top + 0.5, width - pad.left - pad.right - 1, height - pad.top - pad.bottom - 1);
  if (!finite.length) return;
  let lo = opts.logY ? Math.min(...finite) : 0;
  let hi = Math.max(...finite);
  if (opts.logY) {
    lo = Math.floor(Math.log10(lo));
    hi = Math.ceil(Math.log10(hi));
    if (hi === lo) hi = lo + 1;
  } else if (hi <= lo) {
    hi = lo + 1;
  }
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const X = (i) => pad.left + (n <= 1 ? 0 : (i / (n - 1)) * plotW);
  const Y = (v) => {
    const u = opts.logY ? Math.log10(v) : v;
    return pad.top + plotH - ((u - lo) / (hi - lo)) * plotH;
  };

  // Axis labels: y at the bottom and top (and each decade on a log scale), x the last epoch.
  ctx.font = '10px system-ui, sans-serif';
  ctx.fillStyle = '#66727f';
  ctx.textAlign = 'right';
  const ticks = opts.logY ? Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i)) : [0, hi / 2, hi];
  for (const t of ticks) {
    const y = Y(t);
    ctx.fillText(opts.logY ? `1e${Math.round(Math.log10(t))}` : fmt(t, 2), pad.left - 4, y + 3);
    ctx.strokeStyle = '#f0f2f5';
    ctx.beginPath();
    ctx.moveTo(pad.left + 1, y);
    ctx.lineTo(width - pad.right - 1, y);
    ctx.stroke();
  }
  ctx.textAlign = 'left';
  ctx.fillText('0', pad.left, height - pad.bottom + 12);
  ctx.textAlign = 'right';
  ctx.fillText(`epoch ${Math.max(0, n - 1)}`, width - pad.right, height - pad.bottom + 12);

  const step = Math.max(1, Math.floor(n / plotW));
  for (const s of series) {
    ctx.strokeStyle = s.colour;
    ctx.lineWidth = 1.6;
    ctx.beginPath();
    let pen = false;
    const indices = [];
    for (let i = 0; i < s.values.length; i += step) indices.push(i);
    if (s.values.length && indices[indices.length - 1] !== s.values.length - 1) indices.push(s.values.length - 1);
    for (const i of indices) {
      const v = s.values[i];
      if (v === null || !Number.isFinite(v) || (opts.logY && v <= 0)) { pen = false; continue; }
      if (pen) ctx.lineTo(X(i), Y(v)); else ctx.moveTo(X(i), Y(v));
      pen = true;
    }
    ctx.stroke();
  }
  if (opts.legend) {
    let x = pad.left;
    ctx.textAlign = 'left';
    for (const s of series) {
      ctx.fillStyle = s.colour;
      ctx.fillRect(x, height - 12, 12, 3);
      ctx.fillStyle = '#3e4c59';
      ctx.fillText(s.label, x + 15, height - 8);
      x += 22 + ctx.measureText(s.label).width;
    }
  }
}
