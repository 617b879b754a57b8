// The admin page's Charts tab: this node's last hour at a glance, drawn with uPlot (a small
// canvas chart library bundled with the page; no external requests) from
// GET /api/admin/metrics/history (one point a minute) and GET /api/admin/stats (now).
// Refreshes every 10 s while the tab is open.

import uPlot from 'uplot';
import { admin, messageOf, request } from '../api';
import { h } from '../dom';
import { errorBlock } from '../session';

interface Point {
    at: string;
    sampled: boolean;
    runs?: Record<'ok' | 'error' | 'limit' | 'cancelled' | 'failed', number>;
    queued_max?: number;
    running_max?: number;
    latency_p50_ms?: number | null;
    latency_p95_ms?: number | null;
    warm_claims?: number;
    warm_fallbacks?: number;
    terminals_max?: number;
    requests?: number;
}
export interface History { node: string; step_seconds: number; sample_seconds: number; points: Point[] }

export const history = () => request<History>('GET', '/api/admin/metrics/history');

const css = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim() || '#888';

interface Series { label: string; color: string; value: (p: Point) => number | null | undefined; dash?: number[] }
interface ChartDef { id: string; title: string; unit: string; series: Series[]; bars?: boolean }

const STATUS_COLORS: Record<string, string> = { ok: '--ok-solid', error: '--warn', limit: '--syn-keyword', failed: '--danger-solid', cancelled: '--fg-faint' };

function defs(): ChartDef[] {
    return [
        { id: 'runs', title: 'Runs per minute, by status', unit: 'runs', bars: true,
          series: (['ok', 'error', 'limit', 'failed', 'cancelled'] as const).map((s) => ({ label: s, color: css(STATUS_COLORS[s]), value: (p: Point) => p.runs?.[s] })) },
        { id: 'latency', title: 'Run latency (accepted → ended)', unit: 'ms',
          series: [{ label: 'p50', color: css('--accent'), value: (p) => p.latency_p50_ms }, { label: 'p95', color: css('--danger-solid'), value: (p) => p.latency_p95_ms, dash: [6, 4] }] },
        { id: 'queue', title: 'Queue depth and runs running (max per minute)', unit: 'runs',
          series: [{ label: 'queued', color: css('--warn'), value: (p) => p.queued_max }, { label: 'running', color: css('--accent'), value: (p) => p.running_max }] },
        { id: 'warm', title: 'Warm pool: claims and cold fallbacks per minute', unit: 'runs', bars: true,
          series: [{ label: 'warm claims', color: css('--ok-solid'), value: (p) => p.warm_claims }, { label: 'cold fallbacks', color: css('--fg-faint'), value: (p) => p.warm_fallbacks }] },
        { id: 'terminals', title: 'Live terminals (max per minute)', unit: 'terminals',
          series: [{ label: 'terminals', color: css('--syn-function'), value: (p) => p.terminals_max }] },
        { id: 'requests', title: 'HTTP requests per minute', unit: 'requests',
          series: [{ label: 'requests', color: css('--fg-muted'), value: (p) => p.requests }] },
    ];
}

/** Bar charts are stacked: drawn tallest first (the sum of every category up to the top one),
 * so each category shows as its own band; raw values stay available for the legend. */
function raw(hist: History, d: ChartDef): (number | null)[][] {
    return d.series.map((s) => hist.points.map((p) => (p.sampled ? (s.value(p) ?? null) : null)));
}

function data(hist: History, d: ChartDef): uPlot.AlignedData {
    const xs = hist.points.map((p) => Date.parse(p.at) / 1000);
    const r = raw(hist, d);
    if (!d.bars) return [xs, ...r];
    const stacked = r.map((_, c) => xs.map((_x, i) => (r[0][i] == null ? null : r.slice(0, c + 1).reduce((a, col) => a + (col[i] ?? 0), 0))));
    return [xs, ...stacked.reverse()];
}

function options(d: ChartDef, width: number, rawOf: () => (number | null)[][]): uPlot.Options {
    const grid = { stroke: css('--border'), width: 1 };
    const axis = { stroke: css('--fg-muted'), grid, ticks: { stroke: css('--border'), width: 1 }, font: '11px system-ui, sans-serif' };
    const order = d.bars ? [...d.series.keys()].reverse() : [...d.series.keys()];
    const bars = uPlot.paths.bars!({ size: [0.7, 18], align: 0 });
    return {
        width, height: 170, cursor: { drag: { x: false, y: false } }, legend: { live: true },
        scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(d.unit === 'ms' ? 10 : 1, (max ?? 0) * 1.15)] } },
        axes: [{ ...axis }, { ...axis, size: 46, values: (_u, ticks) => ticks.map((t) => (d.unit === 'ms' && t >= 1000 ? `${t / 1000}s` : String(+t.toFixed(1)))) }],
        series: [
            { value: (_u, v) => (v == null ? '–' : new Date(v * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })) },
            ...order.map((c) => {
                const s = d.series[c];
                return {
                    label: s.label, stroke: s.color, width: d.bars ? 0 : 2, dash: s.dash, spanGaps: false,
                    fill: d.bars ? s.color : undefined, points: { show: !d.bars, size: 4 },
                    paths: d.bars ? bars : undefined,
                    value: (_u: uPlot, v: number | null, _si: number, idx: number | null) => {
                        const x = d.bars && idx != null ? rawOf()[c][idx] : v;
                        return x == null ? '–' : d.unit === 'ms' ? `${x.toFixed(1)} ms` : String(x);
                    },
                };
            }),
        ],
    };
}

function nowCards(stats: Record<string, unknown>, hist: History): HTMLElement {
    const runs = (stats.runs ?? {}) as Record<string, number>;
    const terms = (stats.terminals ?? {}) as Record<string, number>;
    const warm = (stats.warm ?? {}) as Record<string, number | boolean>;
    const sampled = hist.points.filter((p) => p.sampled);
    const total = sampled.reduce((a, p) => a + Object.values(p.runs ?? {}).reduce((x, y) => x + y, 0), 0);
    const bad = sampled.reduce((a, p) => a + (p.runs?.failed ?? 0) + (p.runs?.limit ?? 0), 0);
    const last = [...sampled].reverse().find((p) => p.latency_p95_ms != null);
    const card = (label: string, value: string, hint?: string, tone = '') =>
        h('div', { class: `kpi ${tone}` }, h('div', { class: 'kpi-value' }, value), h('div', { class: 'kpi-label' }, label), hint ? h('div', { class: 'kpi-hint' }, hint) : null);
    return h('div', { class: 'kpi-row' },
        card('runs running', String(runs.running ?? 0), `${runs.queued ?? 0} queued`, (runs.queued ?? 0) > 0 ? 'kpi-warn' : ''),
        card('runs in the last hour', String(total), bad ? `${bad} failed or hit a limit` : 'none failed'),
        card('p95 latency', last ? `${Math.round(last.latency_p95_ms!)} ms` : '–', last ? `p50 ${Math.round(last.latency_p50_ms!)} ms, minute of ${new Date(last.at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}` : 'no runs yet'),
        card('warm interpreters ready', warm.enabled ? String(warm.ready ?? 0) : 'off', warm.enabled ? `${warm.claims ?? 0} claims, ${warm.fallbacks ?? 0} cold` : 'warm pool disabled'),
        card('live terminals', String(terms.terminals ?? 0), `${terms.environments ?? 0} environments, ${terms.clients ?? 0} clients`));
}

/** Draws the tab into host and keeps it fresh; stops when host leaves the page. */
export async function chartsTab(host: HTMLElement): Promise<void> {
    let hist: History, stats: Record<string, unknown>;
    try {
        [hist, stats] = await Promise.all([history(), admin.stats()]);
    } catch (e) {
        host.replaceChildren(errorBlock(messageOf(e), () => void chartsTab(host)));
        return;
    }
    const list = defs();
    const grid = h('div', { class: 'chart-grid' });
    const cards = h('div', null, nowCards(stats, hist));
    const foot = h('p', { class: 'muted small' });
    host.replaceChildren(cards, grid, foot);
    const plots: uPlot[] = [];
    for (const d of list) {
        const box = h('div', { class: 'chart-box' });
        const card = h('section', { class: 'chart-card', 'data-chart': d.id }, h('h2', null, d.title), box);
        grid.append(card);
        plots.push(new uPlot(options(d, Math.max(260, box.clientWidth || 480), () => raw(hist, d)), data(hist, d), box));
    }
    const stamp = () => (foot.textContent = `Node ${hist.node} · one point a minute over the last hour · updated ${new Date().toLocaleTimeString()} · refreshes every 10 s`);
    stamp();
    const fit = () => plots.forEach((p) => p.setSize({ width: Math.max(260, p.root.parentElement!.clientWidth), height: 170 }));
    const ro = new ResizeObserver(fit);
    ro.observe(grid);
    const timer = window.setInterval(async () => {
        if (!host.isConnected) {
            clearInterval(timer);
            ro.disconnect();
            plots.forEach((p) => p.destroy());
            return;
        }
        try {
            [hist, stats] = await Promise.all([history(), admin.stats()]);
            list.forEach((d, i) => plots[i].setData(data(hist, d)));
            cards.replaceChildren(nowCards(stats, hist));
            stamp();
        } catch {
            /* keep the last picture */
        }
    }, 10000);
}
