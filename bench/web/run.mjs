// Page benchmark: what a first visit downloads and how long until the editor can be typed in.
//
//   node bench/web/run.mjs              starts build/pyroom on a free port (PYROOM_BIN)
//   PYROOM_BENCH_URL=http://... node bench/web/run.mjs
//   BENCH_LOADS=20 ...                  loads per measurement (default 15)
//
// Prints:
// - the JS + CSS bytes of the IDE's first load as the server sent them (br or gzip when the
//   browser asked for it and the build made it) and of the first load of the IDE (every script and stylesheet the
//   browser fetched, each compressed with gzip -9 here, whatever the server sends), and the
//   same with the terminal opened (xterm.js is a separate chunk);
// - time from navigation start to the first editable editor (the page's
//   performance.mark 'pyroom:editor-ready'), cold (new browser context, empty cache) and
//   warm (reload), p50 and p90, on loopback in Debian's chromium;
// - the baseline measured in the same run: navigation to a static file from the same
//   server (the floor of any page), and the ratio editor-ready / baseline.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const require = createRequire(join(root, 'web/package.json'));
const { chromium } = require('playwright-core');
const LOADS = Number(process.env.BENCH_LOADS || 15);

const freePort = () =>
    new Promise((res, rej) => {
        const s = net.createServer();
        s.once('error', rej);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => res(port));
        });
    });

let server = null;
let tmp = null;
let url = process.env.PYROOM_BENCH_URL;
process.on('exit', () => {
    if (server && server.exitCode === null) server.kill('SIGTERM');
    if (tmp) rmSync(tmp, { recursive: true, force: true });
});

if (!existsSync(join(root, 'web/dist/index.html'))) {
    console.error('bench/web: build the page first (make, or npm run build in web/)');
    process.exit(1);
}
if (!url) {
    const bin = resolve(root, process.env.PYROOM_BIN || 'build/pyroom');
    tmp = mkdtempSync(join(tmpdir(), 'pyroom-bench-web-'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    server = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--database', `sqlite:${tmp}/db.sqlite`, '--data-dir', tmp,
        '--web-dir', join(root, 'web/dist'), '--access-log', 'false'], { stdio: 'ignore' });
    for (let i = 0; ; i++) {
        try {
            if ((await fetch(`${url}/api/health`)).ok) break;
        } catch {
            /* starting */
        }
        if (i > 150) throw new Error('pyroom did not start');
        await new Promise((r) => setTimeout(r, 100));
    }
}

// A user with a workspace.
const reg = await fetch(`${url}/api/auth/register`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: `bench${Date.now() % 1e6}`, password: 'bench password 1' }),
});
if (reg.status !== 201) throw new Error(`register: ${reg.status} ${await reg.text()}`);
const cookie = /pyroom_session=([^;]*)/.exec(reg.headers.get('set-cookie'))[1];
const { csrf_token: csrf } = await reg.json();
const wsr = await fetch(`${url}/api/workspaces`, {
    method: 'POST', headers: { 'Content-Type': 'application/json', Cookie: `pyroom_session=${cookie}`, 'X-CSRF-Token': csrf },
    body: JSON.stringify({ name: 'bench' }),
});
const ws = await wsr.json();

const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage'],
});
const newContext = async () => {
    const ctx = await browser.newContext({ viewport: { width: 1366, height: 820 } });
    await ctx.addCookies([{ name: 'pyroom_session', value: cookie, url }]);
    return ctx;
};
const pct = (xs, p) => {
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const editorReady = (page) =>
    page.waitForFunction(() => performance.getEntriesByName('pyroom:editor-ready').length > 0, null, { polling: 5 })
        .then(() => page.evaluate(() => performance.getEntriesByName('pyroom:editor-ready')[0].startTime));

// 1. Bytes of the first load (and with the terminal opened).
const ctx0 = await newContext();
const page0 = await ctx0.newPage();
const assets = new Map();
page0.on('response', async (r) => {
    const u = new URL(r.url());
    if (!/\.(js|css)$/.test(u.pathname)) return;
    try {
        const body = await r.body();
        // wire: the body bytes as sent (compressed when the server sent br or gzip).
        const wire = (await r.request().sizes()).responseBodySize;
        assets.set(u.pathname, { raw: body.length, gz: gzipSync(body, { level: 9 }).length, wire, coding: (await r.allHeaders())['content-encoding'] ?? 'identity' });
    } catch {
        /* redirect or aborted */
    }
});
await page0.goto(`${url}/w/${ws.id}`);
await editorReady(page0);
await page0.waitForLoadState('networkidle');
const sum = (m) => [...m.values()].reduce((a, b) => ({ raw: a.raw + b.raw, gz: a.gz + b.gz, wire: a.wire + b.wire }), { raw: 0, gz: 0, wire: 0 });
const first = sum(assets);
const firstList = [...assets].map(([p, s]) => `${p.slice(1)} ${(s.gz / 1024).toFixed(1)}`).join(', ');
await page0.click('#toggle-terminal');
await page0.waitForSelector('.term-host .xterm', { timeout: 10000 }).catch(() => {});
await page0.waitForLoadState('networkidle');
const withTerm = sum(assets);
// Leave the terminal closed for the timing runs (it would load xterm on start-up).
await page0.click('#toggle-terminal').catch(() => {});
await ctx0.close();

// 2. Navigation → editable editor, cold and warm; baseline: a static file.
const cold = [];
const warm = [];
const base = [];
for (let i = 0; i < LOADS; i++) {
    const ctx = await newContext();
    const page = await ctx.newPage();
    await page.goto(`${url}/w/${ws.id}`);
    cold.push(await editorReady(page));
    await page.reload();
    warm.push(await editorReady(page));
    await page.goto(`${url}/favicon.svg`);
    base.push(await page.evaluate(() => performance.getEntriesByType('navigation')[0].responseEnd));
    await ctx.close();
}
await browser.close();

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
const ms = (n) => `${n.toFixed(0)} ms`;
console.log(`web first load (IDE): ${kib(first.gz)} gzipped JS+CSS (${kib(first.raw)} raw); aim < 400 KiB`);
console.log(`  files: ${firstList}`);
console.log(`web first load (IDE) as sent by the server: ${kib(first.wire)} (${[...new Set([...assets.values()].map((a) => a.coding))].join(', ')})`);
console.log(`web first load with the terminal opened: ${kib(withTerm.gz)} gzipped JS+CSS`);
console.log(`navigation to editable editor, cold: p50 ${ms(pct(cold, 50))}, p90 ${ms(pct(cold, 90))} over ${LOADS} loads; aim < 500 ms`);
console.log(`navigation to editable editor, warm reload: p50 ${ms(pct(warm, 50))}, p90 ${ms(pct(warm, 90))}`);
console.log(`baseline (static file from the same server): p50 ${ms(pct(base, 50))}; ratio cold/baseline ${(pct(cold, 50) / Math.max(1, pct(base, 50))).toFixed(1)}x`);
// The server we started keeps the event loop alive: stop it and wait for it to exit (it
// unmounts the terminal environment's file system), then end (the exit hook cleans up).
if (server && server.exitCode === null) {
    const gone = new Promise((r) => server.once('exit', r));
    server.kill('SIGTERM');
    await gone;
}
process.exit(0);
