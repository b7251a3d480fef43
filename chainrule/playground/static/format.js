// Numbers and symbols as the page writes them.
const SUBSCRIPTS = '₀₁₂₃₄₅₆₇₈₉';

/** 12 -> '₁₂' */
export function sub(n) {
  return String(n).split('').map((d) => SUBSCRIPTS[Number(d)]).join('');
}

/** A number with six significant digits, as in `chainrule explain`'s tables ('NaN' for a diverged value). */
export function fmt(v, digits = 6) {
  if (v === null || v === undefined || Number.isNaN(v)) return 'NaN';
  if (v === 0) return '0';
  return Number(v).toPrecision(digits);
}

/** A loss for the header: four significant digits. */
export function fmtLoss(v) {
  return v === null || v === undefined ? '–' : fmt(v, 4);
}

export function fmtPercent(v) {
  return v === null || v === undefined ? '' : `${(100 * v).toFixed(1)}% right`;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k.startsWith('data-')) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c);
  return node;
}
