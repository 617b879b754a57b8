// The API reference at /api/docs and the admin page's charts, as a person sees them: both
// load from this server only (every request the page makes is checked), show what the
// server has, and leave screenshots in build/screenshots/ (api-docs*.png, admin-charts*.png).
// Runs after page.test.mjs (file order), whose first account "ada" is the admin.
import assert from 'node:assert/strict';
import { Api, BASE, shot, suite, until } from './lib.mjs';

const PW = 'correct horse 1';
const admin = new Api();
const { test, page } = suite({
    closeEach: false,
    // Every request a page makes that leaves the server (there must be none).
    onPage: (p) => {
        p.foreign = [];
        p.on('request', (r) => {
            if (!r.url().startsWith(BASE) && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) p.foreign.push(r.url());
        });
    },
    setup: async () => {
        // ada is the admin made by page.test.mjs; alone (this file run by itself) make her.
        try {
            await admin.login('ada', PW);
        } catch {
            await admin.register('ada', PW);
        }
    },
});

test('the API reference renders the server\'s OpenAPI document without logging in', async () => {
    const doc = await (await fetch(`${BASE}/api/openapi.json`)).json();
    const nops = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    const p = await page({ colorScheme: 'light' });
    await p.goto('/api/docs');
    await p.waitForSelector('.oa-op');
    assert.equal(await p.locator('.oa-op').count(), nops);
    assert.match(await p.textContent('h1'), /pyroom HTTP API/);
    // every error code of the table is listed, with its status
    const rows = await p.$$eval('#errors tbody tr', (trs) => trs.map((tr) => tr.textContent));
    assert.equal(rows.length, doc['x-error-codes'].length);
    assert.ok(rows.some((r) => r.startsWith('403forbidden_origin')), rows.join('|'));
    // the SSE names, including conflict
    assert.ok(await p.isVisible('#events code:text-is("conflict")'));
    await shot(p, 'api-docs');
    // filter, then open one operation
    await p.fill('.oa-filter', '/runs');
    await until(async () => (await p.locator('.oa-op:visible').count()) < nops);
    const visible = await p.$$eval('.oa-op:not([hidden]) .oa-path', (els) => els.map((e) => e.textContent));
    assert.ok(visible.length >= 3 && visible.every((t) => t.includes('/runs')), visible.join(' '));
    await p.click('#postWorkspacesIdRuns > summary');
    await p.waitForSelector('#postWorkspacesIdRuns .oa-schema');
    assert.match(await p.textContent('#postWorkspacesIdRuns'), /RunRequest/);
    assert.match(await p.textContent('#postWorkspacesIdRuns .oa-answers'), /rate_limited/);
    await shot(p, 'api-docs-open');
    assert.deepEqual(p.foreign, []);
    assert.deepEqual(p.errors, []);
});

test('admin charts: the last hour of this node at a glance', async () => {
    const w = (await admin.req('POST', '/api/workspaces', { name: 'charts' })).json;
    await admin.req('PUT', `/api/workspaces/${w.id}/files/ok.py`, 'print("fine")\n');
    await admin.req('PUT', `/api/workspaces/${w.id}/files/bad.py`, 'raise SystemExit(2)\n');
    const statuses = [];
    for (const entry of ['ok.py', 'ok.py', 'bad.py']) {
        const r = await admin.req('POST', `/api/workspaces/${w.id}/runs?wait=1`, { entry });
        assert.equal(r.status, 200, r.text);
        statuses.push(r.json.status);
    }
    assert.deepEqual(statuses, ['ok', 'ok', 'error']);
    const hist = (await admin.req('GET', '/api/admin/metrics/history')).json;
    const okRuns = hist.points.reduce((n, pt) => n + (pt.runs?.ok ?? 0), 0);
    assert.ok(okRuns >= 2, JSON.stringify(hist.points.at(-1)));

    for (const scheme of ['dark', 'light']) {
        const p = await page({ api: admin, colorScheme: scheme });
        await p.goto('/admin?tab=charts');
        await p.waitForSelector('.chart-card canvas');
        assert.equal(await p.locator('.chart-card').count(), 6);
        assert.equal(await p.locator('.chart-card canvas').count(), 6);
        const kpis = await p.$$eval('.kpi', (els) => Object.fromEntries(els.map((e) => [e.querySelector('.kpi-label').textContent, e.querySelector('.kpi-value').textContent])));
        assert.ok(Number(kpis['runs in the last hour']) >= 3, JSON.stringify(kpis));
        assert.match(kpis['p95 latency'], /^\d+ ms$/);
        assert.match(await p.textContent('.chart-card[data-chart=runs] .u-legend'), /ok/);
        assert.match(await p.textContent('.seg-item.active'), /Charts/);
        await shot(p, `admin-charts-${scheme}`);
        assert.deepEqual(p.foreign, []);
        assert.deepEqual(p.errors, []);
    }
});
