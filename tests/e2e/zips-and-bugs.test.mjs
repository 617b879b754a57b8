// Issue 19's bugs that had no browser test yet, and the zip downloads: each test does what
// a user did and checks what the page does now. Its own users and workspace. The table of
// every bug (B1-B16) and its test is tests/e2e/BUGS.md. (Named to sort after page.test.mjs,
// which registers the first account, the admin.)
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { Api, BASE, setEditorText, shot, suite, until, waitSaved } from './lib.mjs';

const PW = 'correct horse 1';
const dora = new Api();
let ws = 0;

async function putFile(path, body) {
    const url = `/api/workspaces/${ws}/files/${path.split('/').map(encodeURIComponent).join('/')}`;
    const headers = { Cookie: dora.cookie, 'X-CSRF-Token': dora.csrf, 'Content-Type': 'application/octet-stream' };
    const r = await fetch(BASE + url, { method: 'PUT', headers, body });
    assert.ok(r.status === 200 || r.status === 201, `PUT ${path}: ${r.status} ${await r.text()}`);
}

const { test, page } = suite({
    setup: async () => {
        await dora.register('dora', PW);
        ws = (await dora.req('POST', '/api/workspaces', { name: 'Bugs and zips' })).json.id;
    },
});

/** A downloaded zip's entries as {name: bytes (latin-1) or null for a folder}, read by
 *  Python's zipfile (which also checks every CRC). */
function unzip(file) {
    const py = 'import json,sys,zipfile\nz=zipfile.ZipFile(sys.argv[1])\nassert z.testzip() is None\n' +
        'print(json.dumps({i.filename: (None if i.is_dir() else z.read(i).decode("latin-1")) for i in z.infolist()}))';
    const r = spawnSync('/usr/bin/python3', ['-c', py, file], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout);
}
const latin1 = (s) => Buffer.from(s, 'utf8').toString('latin1');

async function download(p, click) {
    const [d] = await Promise.all([p.waitForEvent('download', { timeout: 30000 }), click()]);
    assert.equal(await d.failure(), null);
    return { name: d.suggestedFilename(), files: unzip(await d.path()) };
}

test('zip: a folder from the tree menu, the workspace from the top bar, a submission from its page', async () => {
    const csv = 'a,b\r\n1,2\r\n';
    const bin = Buffer.from([0, 1, 2, 0xff, 0xfe, 13, 10, 0]).toString('latin1');
    await putFile('data/table.csv', csv);
    await putFile('data/raw.bin', Buffer.from(bin, 'latin1'));
    await putFile('data/deep/er/x.py', 'x = 1\n');
    await putFile('d\u00e9j\u00e0 vu/\u65e5\u672c.py', 'print("\u00e9")\n');
    const p = await page({ api: dora });
    await p.goto(`/w/${ws}`);
    await p.waitForSelector('.tree-row[data-path="data"]');

    await p.click('.tree-row[data-path="data"]', { button: 'right' });
    const folder = await download(p, () => p.click('.menu-item:has-text("Download folder as zip")'));
    assert.equal(folder.name, 'data.zip');
    assert.deepEqual(folder.files, {
        'data/': null, 'data/deep/': null, 'data/deep/er/': null, 'data/deep/er/x.py': 'x = 1\n',
        'data/raw.bin': bin, 'data/table.csv': csv,
    });

    const whole = await download(p, () => p.click('#download-workspace'));
    assert.equal(whole.name, 'Bugs and zips.zip');
    assert.equal(whole.files['data/table.csv'], csv);
    assert.equal(whole.files['d\u00e9j\u00e0 vu/\u65e5\u672c.py'], latin1('print("\u00e9")\n'));
    assert.ok('main.py' in whole.files);
    await shot(p, 'zip-tree-menu');

    const sub = (await dora.req('POST', `/api/workspaces/${ws}/submissions`, { message: 'zip it' })).json;
    await p.goto(`/submissions/${sub.id}`);
    const snap = await download(p, () => p.click('#download-submission'));
    assert.equal(snap.name, `Bugs and zips-submission-${sub.id}.zip`);
    assert.deepEqual(snap.files, whole.files);
    await dora.req('POST', `/api/submissions/${sub.id}/withdraw`);
});

// B14: a dialog whose default is destructive put the focus on the red Delete button, so
// Enter deleted. Red on the page before fab0acc: the focus was on Delete.
test('B14: a delete confirmation starts with the focus on Cancel', async () => {
    await putFile('doomed.py', 'pass\n');
    const p = await page({ api: dora });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="doomed.py"]', { button: 'right' });
    await p.click('.menu-item:has-text("Delete")');
    await p.waitForSelector('dialog[open]');
    assert.equal(await p.evaluate(() => document.activeElement?.textContent), 'Cancel');
    await p.keyboard.press('Enter');
    await p.waitForSelector('dialog[open]', { state: 'detached' });
    assert.equal(await dora.file(ws, 'doomed.py'), 'pass\n', 'Enter kept the file');
});

// B14: Rename selected the whole path, folder included, so typing a new name moved the
// file to the top. Red on the page before fab0acc: the selection was 0..end.
test('B14: Rename selects the file\'s name without its folder or extension', async () => {
    await putFile('pkg/helpers.py', 'pass\n');
    const p = await page({ api: dora });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="pkg"]');
    await p.click('.tree-row[data-path="pkg/helpers.py"]', { button: 'right' });
    await p.click('.menu-item:has-text("Rename")');
    const input = await p.waitForSelector('dialog[open] input');
    const sel = await input.evaluate((i) => [i.selectionStart, i.selectionEnd, i.value]);
    assert.deepEqual(sel, [4, 11, 'pkg/helpers.py']);
    await p.keyboard.type('tools');
    await p.keyboard.press('Enter');
    await until(async () => (await dora.file(ws, 'pkg/tools.py')) === 'pass\n');
});

// B14: a long verdict wrapped over several lines and pushed the figures away. Red on the
// page before 99a790a: the verdict wrapped (white-space normal) and had no title.
test('B14: a verdict stays on one line, its full text on hover', async () => {
    const p = await page({ api: dora });
    await p.setViewportSize({ width: 1024, height: 700 });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, 'x = bytearray(2 ** 31)\n');
    await waitSaved(p);
    await p.click('#run');
    const v = await p.waitForSelector('.run-status[data-status=limit] .run-verdict', { timeout: 30000 });
    const style = await v.evaluate((e) => { const s = getComputedStyle(e); return [s.whiteSpace, s.textOverflow, e.title, e.textContent]; });
    assert.deepEqual(style, ['nowrap', 'ellipsis', 'Memory limit reached', 'Memory limit reached']);
    await p.evaluate(() => { document.querySelector('.run-status').style.width = '90px'; });
    assert.equal(await v.evaluate((e) => e.getClientRects().length), 1);
    const lineHeight = await v.evaluate((e) => parseFloat(getComputedStyle(e).fontSize) * 1.6);
    assert.ok((await v.evaluate((e) => e.getBoundingClientRect().height)) < lineHeight, 'one line even when squeezed');
});

// B14: the find panel was CodeMirror's unstyled default (system checkboxes, dark labels on
// a dark theme). Red on the page before 99a790a: labels not muted, checkboxes not accented.
test('B14: the find panel\'s labels and checkboxes match the page', async () => {
    for (const scheme of ['light', 'dark']) {
        const p = await page({ api: dora, colorScheme: scheme });
        await p.goto(`/w/${ws}`);
        await p.click('.tree-row[data-path="main.py"]');
        await p.click('.editor-host .cm-content');
        await p.keyboard.press('ControlOrMeta+f');
        await p.waitForSelector('.cm-panel.cm-search');
        const got = await p.evaluate(() => {
            const probe = (v) => { const d = document.createElement('div'); d.style.color = `var(${v})`; document.body.append(d); const c = getComputedStyle(d).color; d.remove(); return c; };
            const label = document.querySelector('.cm-panel.cm-search label');
            const box = document.querySelector('.cm-panel.cm-search input[type=checkbox]');
            return { label: getComputedStyle(label).color, muted: probe('--fg-muted'), accent: getComputedStyle(box).accentColor, want: probe('--accent') };
        });
        assert.equal(got.label, got.muted, `${scheme}: labels muted`);
        assert.equal(got.accent, got.want, `${scheme}: checkboxes accented`);
        await shot(p, `b14-find-${scheme}`);
        await p.context().close();
    }
});

// B14: the run status said "warm", jargon for "Python was already started". Red on the page
// before a3d2c9b: a warm run's status said "warm".
test('B14: a run from the warm pool says "fast start", never "warm"', async () => {
    const p = await page({ api: dora });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, 'print(1)\n');
    await waitSaved(p);
    // The pool fills in the background after start: run until a run was served from it.
    await until(async () => {
        await p.click('#run');
        await p.waitForSelector('.run-status[data-status=ok]', { timeout: 30000 });
        const runs = (await dora.req('GET', `/api/workspaces/${ws}/runs?limit=1`)).json.items;
        const warm = runs[0]?.warm;
        if (!warm) await p.click('.editor-host .cm-content');
        return warm;
    }, 120000, 500);
    const status = await p.textContent('.run-status');
    assert.match(status, /fast start/);
    assert.doesNotMatch(status, /warm/i);
});

// B16: the page's scripts and styles were sent uncompressed (~940 KB per cold IDE load).
// Red before fa016ca (no pre-compressed siblings, no Content-Encoding).
test('B16: the IDE\'s scripts and styles arrive compressed in the coding Chromium asked for', async () => {
    const p = await page({ api: dora });
    const seen = [];
    p.on('response', async (r) => {
        if (!/\.(js|css)$/.test(new URL(r.url()).pathname)) return;
        seen.push({ url: r.url(), accept: (await r.request().allHeaders())['accept-encoding'] ?? '', coding: (await r.allHeaders())['content-encoding'] ?? '' });
    });
    await p.goto(`/w/${ws}`);
    await p.waitForSelector('.cm-content');
    await until(() => seen.length >= 3);
    for (const s of seen) {
        const want = /\bbr\b/.test(s.accept) ? 'br' : 'gzip';
        assert.equal(s.coding, want, `${s.url} (asked ${s.accept})`);
    }
});

// B8: on a phone the submission page kept its three columns and the code column collapsed
// to nothing. Red on the page before a3d2c9b: the code column was under 100 px wide.
test('B8: on a 390 px phone the submission page is one column with room for the code', async () => {
    const sub = (await dora.req('POST', `/api/workspaces/${ws}/submissions`, { message: 'phone' })).json;
    const p = await page({ api: dora, colorScheme: 'light' });
    await p.setViewportSize({ width: 390, height: 844 });
    await p.goto(`/submissions/${sub.id}`);
    await p.click('.snap-file[data-path="main.py"]');
    await p.waitForSelector('.cm-content');
    const code = await p.$eval('.cm-editor', (e) => e.getBoundingClientRect().width);
    assert.ok(code >= 300, `the code is ${code} px wide`);
    assert.ok((await p.evaluate(() => document.documentElement.scrollWidth - innerWidth)) <= 0, 'nothing overflows');
    await shot(p, 'b8-phone-submission');
    await dora.req('POST', `/api/submissions/${sub.id}/withdraw`);
});
