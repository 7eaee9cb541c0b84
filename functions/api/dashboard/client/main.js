// The dashboard's browser code: htmx for the live parts (fragments polled from the server) and uPlot
// for the charts. Pages work without it, only without live updates and charts (each chart has a
// table of the same figures beside it). Bundled by esbuild (../assets.ts); no other script runs on a
// page (the Content-Security-Policy allows only this one).
import htmx from 'htmx.org';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import './dashboard.css';

// Nothing that arrives in a fragment is ever evaluated, and requests go only to this origin.
htmx.config.allowEval = false;
htmx.config.allowScriptTags = false;
htmx.config.selfRequestsOnly = true;
htmx.config.includeIndicatorStyles = false;
// History snapshots would copy pages (and what they show) into localStorage.
htmx.config.historyCacheSize = 0;
htmx.config.refreshOnHistoryMiss = true;

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4b5563', '#ca8a04'];

/** Draw every chart under `root` that is not drawn yet, from the JSON in its data-chart attribute. */
function drawCharts(root) {
  for (const el of root.querySelectorAll('[data-chart]')) {
    if (el.dataset.drawn) continue;
    el.dataset.drawn = 'true';
    const spec = JSON.parse(el.dataset.chart);
    const width = Math.max(320, el.clientWidth || 640);
    const series = [
      {},
      ...spec.series.map((s, i) => ({
        label: s.label,
        stroke: PALETTE[i % PALETTE.length],
        width: 2,
        dash: s.dashed ? [6, 4] : undefined,
        points: { show: spec.x.length < 40 },
        spanGaps: true,
      })),
    ];
    const data = [spec.x, ...spec.series.map((s) => s.values)];
    const plot = new uPlot(
      {
        width,
        height: 260,
        series,
        axes: [{}, { label: spec.y_label, size: 70 }],
        scales: { x: { time: true } },
      },
      data,
      el,
    );
    // uPlot's legend is a table without headers; it repeats what the caption and data table say.
    plot.root.querySelector('.u-legend')?.setAttribute('aria-hidden', 'true');
  }
}

document.addEventListener('DOMContentLoaded', () => drawCharts(document));
document.addEventListener('htmx:afterSettle', (event) => drawCharts(event.target));
