// Output flood benchmark: how responsive the IDE stays while a run floods it with output.
//
//   node bench/web/flood.mjs                      starts build/pyroom on a free port (PYROOM_BIN)
//   PYROOM_BENCH_WEB_DIR=/path/to/dist node ...   the same against another build of the page
//   FLOOD_ROUNDS=5 ...                            floods measured (default 3)
//
// The program is `while True: print("x" * 1000)`: the server stops it at the output limit
// (1 MiB by default). While the page receives and shows that, a key is typed into the
// editor every 50 ms; Chromium's Event Timing API gives each keydown's latency (from the
// key event until the next frame was painted). Printed: p50/p95/max of that latency during
// the flood, and the baseline measured in the same run: the same typing with no run going.
// Also the time from pressing Run until the verdict is on screen.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(join(root, 'web/package.json'));
const { chromium } = require('playwright-core');
const ROUNDS = Number(process.env.FLOOD_ROUNDS || 3);
const webDir = process.env.PYROOM_BENCH_WEB_DIR || join(root, 'web/dist');

const freePort = () =>
    new Promise((res, rej) => {
        const s = net.createServer();
        s.once('error', rej);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => res(port));
        });
    });

const tmp = mkdtempSync(join(tmpdir(), 'pyroom-bench-flood-'));
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
const server = spawn(resolve(root, process.env.PYROOM_BIN || 'build/pyroom'), ['serve', '--listen', `127.0.0.1:${port}`,
    '--database', `sqlite:${tmp}/db.sqlite`, '--data-dir', tmp, '--web-dir', webDir, '--access-log', 'false'], { stdio: 'ignore' });
process.on('exit', () => {
    if (server.exitCode === null) server.kill('SIGTERM');
    rmSync(tmp, { recursive: true, force: true });
});
for (let i = 0; ; i++) {
    try {
        if ((await fetch(`${url}/api/health`)).ok) break;
    } catch {
        /* starting */
    }
    if (i > 150) throw new Error('pyroom did not start');
    await new Promise((r) => setTimeout(r, 100));
}

const reg = await fetch(`${url}/api/auth/register`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'flood', password: 'bench password 1' }),
});
const cookie = /pyroom_session=([^;]*)/.exec(reg.headers.get('set-cookie'))[1];
const { csrf_token: csrf } = await reg.json();
const auth = { Cookie: `pyroom_session=${cookie}`, 'X-CSRF-Token': csrf };
const ws = await (await fetch(`${url}/api/workspaces`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', ...auth }, body: JSON.stringify({ name: 'flood' }),
})).json();
await fetch(`${url}/api/workspaces/${ws.id}/files/main.py`, {
    method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', ...auth }, body: 'while True:\n    print("x" * 1000)\n',
});
await fetch(`${url}/api/workspaces/${ws.id}/files/notes.txt`, {
    method: 'PUT', headers: { 'Content-Type': 'application/octet-stream', ...auth }, body: 'typing here\n',
});

const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'],
});
const pct = (xs, p) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] : NaN;
};

/** Types `keys` keys into the editor, one per 50 ms; returns the keydown latencies (ms). */
async function typeAndMeasure(page, keys) {
    await page.evaluate(() => {
        window.__lat = [];
        new PerformanceObserver((l) => {
            for (const e of l.getEntries()) if (e.name === 'keydown') window.__lat.push(e.duration);
        }).observe({ type: 'event', durationThreshold: 16, buffered: false });
    });
    for (let i = 0; i < keys; i++) {
        await page.keyboard.press('x');
        await new Promise((r) => setTimeout(r, 50));
    }
    // Entries arrive after their frame: wait for the page to answer once more.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 50))));
    const lat = await page.evaluate(() => window.__lat);
    // Keys handled within 16 ms are not reported (durationThreshold); count them as 16.
    while (lat.length < keys) lat.push(16);
    return lat;
}

const flood = [];
const idle = [];
const verdict = [];
const longest = [];
const longestIdle = [];
for (let round = 0; round < ROUNDS; round++) {
    const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    await ctx.addCookies([{ name: 'pyroom_session', value: cookie, url }]);
    const page = await ctx.newPage();
    await page.goto(`${url}/w/${ws.id}`);
    await page.waitForSelector('.cm-content');
    await page.click('.tree-row[data-path="notes.txt"]');
    await page.waitForSelector('.tab.active[data-path="notes.txt"]');
    await page.click('.editor-host .cm-content');
    await page.evaluate(() => {
        window.__long0 = [];
        new PerformanceObserver((l) => window.__long0.push(...l.getEntries().map((e) => e.duration))).observe({ type: 'longtask' });
    });
    idle.push(...(await typeAndMeasure(page, 20)));
    longestIdle.push(await page.evaluate(() => Math.max(0, ...window.__long0)));
    // Run main.py (the tab of notes.txt stays active: Run uses main.py for a non-Python tab).
    // The first frame that shows the verdict, timed in the page from the click on Run.
    await page.evaluate(() => {
        document.querySelector('#run').addEventListener('click', () => {
            const t0 = performance.now();
            const look = () => (document.querySelector('.run-status[data-status=limit]') ? (window.__verdict = performance.now() - t0) : requestAnimationFrame(look));
            look();
        }, { once: true, capture: true });
        window.__long = [];
        new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => e.duration))).observe({ type: 'longtask' });
    });
    await page.click('#run');
    await page.click('.editor-host .cm-content');
    flood.push(...(await typeAndMeasure(page, 40)));
    await page.waitForFunction(() => window.__verdict !== undefined, null, { timeout: 180000 });
    verdict.push(await page.evaluate(() => window.__verdict));
    longest.push(await page.evaluate(() => Math.max(0, ...window.__long)));
    await ctx.close();
}
await browser.close();

const f = (n) => `${n.toFixed(0)} ms`;
console.log(`web flood (${webDir === join(root, 'web/dist') ? 'this page' : webDir}): keydown-to-paint latency while a 1 MiB output flood is shown:`
    + ` p50 ${f(pct(flood, 50))}, p95 ${f(pct(flood, 95))}, max ${f(Math.max(...flood))} (${flood.length} keys, ${ROUNDS} floods); aim p95 < 100 ms`);
console.log(`baseline (same typing, no run): p50 ${f(pct(idle, 50))}, p95 ${f(pct(idle, 95))}, longest task ${f(Math.max(...longestIdle))}; ratio p95 flood/baseline ${(pct(flood, 95) / pct(idle, 95)).toFixed(1)}x`);
console.log(`Run pressed → verdict on screen: p50 ${f(pct(verdict, 50))}, max ${f(Math.max(...verdict))}; longest task during a flood: max ${f(Math.max(...longest))}`);
process.exit(0);
