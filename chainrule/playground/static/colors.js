// The colour scale of every picture: orange (-1, class 0) through light grey (0) to blue (+1, class 1).
const NEG = [245, 147, 34];
const MID = [232, 234, 235];
const POS = [8, 119, 189];
export const ORANGE = 'rgb(245,147,34)';
export const BLUE = 'rgb(8,119,189)';

export function colour(t) {
  const u = Math.max(-1, Math.min(1, t));
  const [a, b, f] = u < 0 ? [MID, NEG, -u] : [MID, POS, u];
  return [0, 1, 2].map((i) => Math.round(a[i] + (b[i] - a[i]) * f));
}

/** base64 bytes (0..255 meaning -1..1, row by row from the top) -> an offscreen canvas of size x size. */
export function picture(b64, size, fade = 1) {
  const bytes = atob(b64);
  const canvas = document.createElement('canvas');
  canvas.width = size;
  canvas.height = size;
  const ctx = canvas.getContext('2d');
  const img = ctx.createImageData(size, size);
  for (let i = 0; i < size * size; i++) {
    const [r, g, b] = colour(((bytes.charCodeAt(i) / 127.5) - 1) * fade);
    img.data.set([r, g, b, 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
  return canvas;
}

/** A canvas sized for the screen's pixel density; returns its 2-D context in CSS pixels. */
export function sharpen(canvas, width, height) {
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext('2d');
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  return ctx;
}
