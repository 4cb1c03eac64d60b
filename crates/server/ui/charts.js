// The integration page's charts of the last 15 minutes, drawn as SVG from the stats' `series`
// (one point per second, oldest first): events per second by outcome, and the delivery latency
// percentiles. Axes, a legend with each line's total, and a readout of the second under the
// pointer (both charts show the same second). No library: lines are polylines over a fixed
// view box, the text is the page's own.
'use strict';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** Makes an SVG element: svgEl('line', {x1: 0, ...}, child...). */
function svgEl(tag, attrs, ...kids) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  for (const kid of kids.flat()) if (kid) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return el;
}

/** The outcomes drawn, their series key, label and colour. */
const OUTCOME_LINES = [
  ['delivered', 'Delivered', '#17794a'], ['dropped', 'Dropped', '#b7791f'], ['retrying', 'Retried', '#2457d6'],
  ['failed', 'Failed', '#b42318'], ['dead_lettered', 'Dead-lettered', '#7e22ce'],
];
const LATENCY_LINES = [['p50', 'p50', '#2457d6'], ['p95', 'p95', '#b7791f'], ['p99', 'p99', '#b42318']];

/** The smallest of 1, 2, 2.5, 5 × 10^k at or above `v` (at least `floor`). */
function niceCeil(v, floor) {
  if (!(v > floor)) return floor;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function chartClock(d, seconds) {
  return d.toLocaleTimeString([], seconds ? {hour12: false} : {hour: '2-digit', minute: '2-digit', hour12: false});
}

/** One chart: {node, draw(lines, end, unit), mark(i)}; `lines` is [[key, label, colour, values]]. */
function lineChart(id, title, unit, onPoint) {
  const W = 900, H = 150, L = 52, R = 12, T = 10, B = 26;
  const pw = W - L - R, ph = H - T - B;
  const svg = svgEl('svg', {id, class: 'chart', viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': title + ', last 15 minutes'});
  const grid = svgEl('g', {class: 'grid'}), lines = svgEl('g', {class: 'lines'}), cursor = svgEl('line', {class: 'cursor', y1: T, y2: T + ph, visibility: 'hidden'});
  const hit = svgEl('rect', {class: 'hit', x: L, y: T, width: pw, height: ph, fill: 'transparent'});
  svg.append(svgEl('title', {}, title), grid, lines, cursor, hit);
  const legend = h('ul', {class: 'legend', id: id + '-legend'});
  let n = 0;
  const xOf = (i) => L + (n > 1 ? i * pw / (n - 1) : 0);
  const at = (ev) => {
    const box = svg.getBoundingClientRect();
    const x = (ev.clientX - box.left) * W / box.width;
    return Math.max(0, Math.min(n - 1, Math.round((x - L) * (n - 1) / pw)));
  };
  hit.addEventListener('pointermove', (ev) => { if (n) onPoint(at(ev)); });
  hit.addEventListener('pointerleave', () => onPoint(null));

  function draw(series, end) {
    n = series.length ? series[0][3].length : 0;
    let max = 0;
    for (const [, , , v] of series) for (const x of v) if (x !== null && x > max) max = x;
    // Four steps of a round size: 0, 1, 2, 3, 4; 0, 25, 50, 75, 100 ms...
    const top = 4 * niceCeil(max / 4, unit === 'ms' ? 2.5 : 1);
    const yOf = (v) => T + ph - v * ph / top;
    clear(grid);
    for (let k = 0; k <= 4; k++) {
      const v = top * k / 4, y = yOf(v);
      grid.append(svgEl('line', {x1: L, x2: L + pw, y1: y, y2: y, class: k ? 'tick' : 'axis'}),
        svgEl('text', {x: L - 6, y: y + 4, 'text-anchor': 'end'}, (Number.isInteger(v) ? v : Number(v.toFixed(1))) + (k === 4 && unit ? ' ' + unit : '')));
    }
    // Time ticks on whole minutes, every three.
    const first = end.getTime() - (n - 1) * 1000;
    for (let t = Math.ceil(first / 180000) * 180000; t <= end.getTime(); t += 180000) {
      const x = xOf((t - first) / 1000);
      grid.append(svgEl('line', {x1: x, x2: x, y1: T + ph, y2: T + ph + 4, class: 'axis'}),
        svgEl('text', {x, y: H - 8, 'text-anchor': 'middle'}, chartClock(new Date(t), false)));
    }
    grid.append(svgEl('line', {x1: L, x2: L, y1: T, y2: T + ph, class: 'axis'}));
    clear(lines);
    for (const [key, , colour, v] of series) {
      // A line through the seconds with a value; a gap where there is none (latency without deliveries).
      let d = '', pen = false, nonzero = 0;
      v.forEach((x, i) => {
        if (x === null || x === undefined) { pen = false; return; }
        if (x > 0) nonzero++;
        // A move starts with a dot (a zero-length segment, round-capped): a lone second shows.
        d += (pen ? 'L' : 'M') + xOf(i).toFixed(1) + ' ' + yOf(x).toFixed(1) + (pen ? '' : 'h0.01');
        pen = true;
      });
      lines.append(svgEl('path', {d: d || 'M0 0', class: 'line', stroke: colour, 'data-series': key, 'data-nonzero': nonzero}));
    }
    clear(legend).append(...series.map(([key, label, colour, v]) => {
      const shown = v.filter((x) => x !== null);
      const total = unit === 'ms' ? (shown.length ? Math.max(...shown) + ' ms max' : 'no deliveries')
        : v.reduce((a, b) => a + b, 0).toLocaleString() + ' in 15 min';
      return h('li', {'data-series': key}, h('span', {class: 'swatch', 'data-colour': colour}), label, h('span', {class: 'muted'}, ' ' + total));
    }));
    // The swatches' colour, set through the CSSOM (the CSP allows no inline style attribute).
    for (const sw of legend.querySelectorAll('.swatch')) sw.style.background = sw.dataset.colour;
  }
  function mark(i) {
    if (i === null || !n) { cursor.setAttribute('visibility', 'hidden'); return; }
    cursor.setAttribute('x1', xOf(i));
    cursor.setAttribute('x2', xOf(i));
    cursor.setAttribute('visibility', 'visible');
  }
  const node = h('figure', {class: 'chart-box'}, h('figcaption', {}, title), svg, legend);
  return {node, draw, mark};
}

/** The two charts and their readout: {node, update(series)}. */
function deliveryCharts() {
  let last = null, pointed = null;
  const readout = h('p', {class: 'readout', id: 'chart-readout', 'aria-live': 'off'});
  const events = lineChart('chart-events', 'Events per second', '', point);
  const latency = lineChart('chart-latency', 'Delivery latency (ms)', 'ms', point);
  const node = h('section', {class: 'charts', id: 'charts', 'aria-label': 'The last 15 minutes'},
    h('h3', {}, 'The last 15 minutes'), readout, h('div', {class: 'chart-grid'}, events.node, latency.node));

  // The drawn seconds: all but the current one, still counting.
  const drawn = (v) => v.slice(0, -1);
  function point(i) {
    pointed = i;
    events.mark(i);
    latency.mark(i);
    show();
  }
  function show() {
    if (!last) return;
    const n = last.delivered.length - 1;
    if (pointed === null || pointed >= n) {
      clear(readout).append(h('span', {class: 'muted'}, 'Point at a chart to read one second.'));
      return;
    }
    const i = pointed;
    const t = new Date(Date.parse(last.end) - (n - i) * 1000);
    const ms = (v) => v === null || v === undefined ? '–' : v + ' ms';
    const lat = last.latency_ms || {};
    append(clear(readout), [h('strong', {}, chartClock(t, true)), ' ',
      OUTCOME_LINES.map(([k, label]) => h('span', {class: 'reading', 'data-series': k}, label + ' ' + (last[k] ? last[k][i] : 0))),
      LATENCY_LINES.map(([k, label]) => h('span', {class: 'reading', 'data-series': k}, label + ' ' + ms(lat[k] && lat[k][i])))]);
  }
  function update(series) {
    if (!series || !Array.isArray(series.delivered)) return;
    last = series;
    const end = new Date(Date.parse(series.end) - 1000);
    const zeros = series.delivered.map(() => 0);
    events.draw(OUTCOME_LINES.map(([k, label, c]) => [k, label, c, drawn(series[k] || zeros)]), end);
    const lat = series.latency_ms || {};
    latency.draw(LATENCY_LINES.map(([k, label, c]) => [k, label, c, drawn(lat[k] || zeros.map(() => null))]), end);
    show();
  }
  return {node, update};
}
