// bench/collab/follow.mjs: follow latency as a person sees it, in two Chromium pages on
// loopback: the leader presses ArrowDown in the editor; the time until the follower's status
// bar shows the leader's new line (presence POST -> server -> event stream -> the follower's
// editor moves). Baseline in the same run and the same pages: the leader's page PUTs a file
// (fetch) and the follower's page hears `file_changed` on an EventSource of its own, the
// plain event round trip. Both clocks are Date.now() of one machine (ms). Then co-editing:
// the leader types, and the time until the character is in the peer's editor.
//
//   node bench/collab/follow.mjs        (N=100 rounds; PYROOM_BIN defaults to build/pyroom)
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(new URL('../..', import.meta.url).pathname);
const N = Number(process.env.N || 100);

const port = await new Promise((res) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
        const p = s.address().port;
        s.close(() => res(p));
    });
});
const data = mkdtempSync(join(tmpdir(), 'pyroom-bench-collab-'));
const server = spawn(resolve(root, process.env.PYROOM_BIN || 'build/pyroom'),
    ['serve', '--listen', `127.0.0.1:${port}`, '--data-dir', data, '--database', `sqlite:${data}/db`, '--web-dir', join(root, 'web/dist'), '--warm-pool', 'false'],
    { stdio: ['ignore', 'ignore', 'ignore'] });
process.env.PYROOM_E2E_URL = `http://127.0.0.1:${port}`;
process.env.PYROOM_ROOT = root;
const { Api, closeBrowser, launch, newPage, until } = await import('../../tests/e2e/lib.mjs');

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

try {
    await until(async () => (await fetch(`http://127.0.0.1:${port}/api/health`).catch(() => null))?.ok, 15000);
    await launch();
    const api = new Api();
    await api.register('bench');
    const ws = (await api.req('POST', '/api/workspaces', { name: 'follow' })).json.id;
    const text = Array.from({ length: N + 10 }, (_, i) => `x${i} = ${i}`).join('\n') + '\n';
    await api.req('PUT', `/api/workspaces/${ws}/files/main.py`, text);
    const open = async () => {
        const p = await newPage({ api, timeout: 20000 });
        await p.goto(`/w/${ws}`);
        await p.click('.tree-row[data-path="main.py"]');
        await p.waitForSelector('.editor-host .cm-content');
        return p;
    };
    const leader = await open();
    const follower = await open();
    // Two pages on one file co-edit it (a page alone does not).
    for (const p of [leader, follower]) await p.waitForSelector('.editor-host .cm-editor[data-shared=true]', { timeout: 20000 });
    await follower.locator('.presence-chip', { hasText: 'main.py' }).first().click();
    await leader.click('.editor-host .cm-line >> nth=0');
    await leader.keyboard.press('ControlOrMeta+Home');
    // The follower notes when its status bar first shows each line.
    await follower.evaluate(() => {
        window.seenAt = {};
        const bar = document.querySelector('.statusbar');
        new MutationObserver(() => {
            const m = /Ln (\d+),/.exec(bar.textContent);
            if (m && !(m[1] in window.seenAt)) window.seenAt[m[1]] = Date.now();
        }).observe(bar, { subtree: true, characterData: true, childList: true });
        window.heard = {};
        const es = new EventSource(`/api/workspaces/${location.pathname.split('/')[2]}/events`);
        es.addEventListener('file_changed', (e) => {
            const d = JSON.parse(e.data);
            if (d.path.startsWith('b') && !(d.path in window.heard)) window.heard[d.path] = Date.now();
        });
        return new Promise((res) => es.addEventListener('open', res));
    });
    // The leader's clock starts when the key reaches its page (not when the test sends it).
    await leader.evaluate(() => document.addEventListener('keydown', () => { window.downAt = Date.now(); }, true));
    const csrf = api.csrf;
    const follow = [];
    const base = [];
    for (let i = 0; i < N; i++) {
        const line = i + 2;
        await leader.keyboard.press('ArrowDown');
        const t0 = await leader.evaluate(() => window.downAt);
        const t1 = await until(() => follower.evaluate((l) => window.seenAt[l], String(line)), 10000, 2);
        follow.push(t1 - t0);
        const name = `b${i}.txt`;
        const s0 = await leader.evaluate(async ([w, n, c]) => {
            const t = Date.now();
            await fetch(`/api/workspaces/${w}/files/${n}`, { method: 'PUT', body: 'x', headers: { 'X-CSRF-Token': c } });
            return t;
        }, [ws, name, csrf]);
        const s1 = await until(() => follower.evaluate((n) => window.heard[n], name), 10000, 2);
        base.push(s1 - s0);
    }
    // Co-editing as a person sees it: the leader types Q; the time until the follower's
    // editor holds one more Q (keydown -> Yjs update POST -> doc_update -> the peer's editor).
    await follower.evaluate(() => {
        window.qAt = {};
        const content = document.querySelector('.editor-host .cm-content');
        new MutationObserver(() => {
            const n = String((content.textContent.match(/Q/g) || []).length);
            if (!(n in window.qAt)) window.qAt[n] = Date.now();
        }).observe(content, { subtree: true, characterData: true, childList: true });
    });
    const keys = [];
    for (let i = 1; i <= N; i++) {
        await leader.keyboard.press('Q');
        const t0 = await leader.evaluate(() => window.downAt);
        const t1 = await until(() => follower.evaluate((n) => window.qAt[n], String(i)), 10000, 2);
        keys.push(t1 - t0);
    }
    const within = follow.filter((x) => x <= 100).length / follow.length;
    console.log(`bench/collab follow (browser): ${N} rounds, loopback, sqlite; machine shared (load ${loadavg()[0].toFixed(1)})`);
    console.log(`  follow     p50 ${pct(follow, 0.5)} ms   p99 ${pct(follow, 0.99)} ms   (leader's ArrowDown -> follower's status bar)`);
    console.log(`  baseline   p50 ${pct(base, 0.5)} ms   p99 ${pct(base, 0.99)} ms   (fetch PUT -> file_changed on the follower's EventSource)`);
    console.log(`  ratio p50 ${(pct(follow, 0.5) / Math.max(1, pct(base, 0.5))).toFixed(2)}; follow within 100 ms: ${(within * 100).toFixed(1)}%`);
    console.log(`  keystroke  p50 ${pct(keys, 0.5)} ms   p99 ${pct(keys, 0.99)} ms   (leader's key -> one more Q in the peer's editor, co-editing); ratio p50 ${(pct(keys, 0.5) / Math.max(1, pct(base, 0.5))).toFixed(2)}`);
    for (const p of [leader, follower]) await p.context().close();
} finally {
    await closeBrowser();
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(data, { recursive: true, force: true });
}
