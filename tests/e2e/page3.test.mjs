// The page's third pass (issue 19's leftovers): each test reproduces what a user hit and
// checks what the page does now. Its own users and workspace.
import assert from 'node:assert/strict';
import { after, afterEach, before, test as nodeTest } from 'node:test';
import { Api, closeBrowser, createWorkspaceUI, launch, newPage, setEditorText, shot, waitSaved } from './lib.mjs';

const PW = 'correct horse 1';
const quinn = new Api();
let ws = 0;
const pages = [];

async function page(opts) {
    const p = await newPage(opts);
    pages.push(p);
    return p;
}

const failed = new Set();
afterEach(async (t) => {
    const p = pages[pages.length - 1];
    if (p && !p.isClosed() && failed.has(t.name)) await shot(p, `FAILED-${t.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`).catch(() => {});
    for (const q of pages.splice(0)) await q.context().close().catch(() => {});
});
const timeout = Number(process.env.PYROOM_TEST_TIMEOUT || 300) * 1000;
function test(name, fn) {
    nodeTest(name, { timeout }, async (t) => {
        try {
            await fn(t);
        } catch (e) {
            failed.add(name);
            throw e;
        }
    });
}

before(async () => {
    await launch();
    await quinn.register('quinn', PW);
    const p = await page({ api: quinn });
    ws = await createWorkspaceUI(p, 'Third pass');
    await p.context().close();
});
after(async () => {
    for (const p of pages) await p.context().close().catch(() => {});
    await closeBrowser();
});

// A run's notices (files the write-back kept or skipped) were shown live, but a stored run
// opened from the history after a reload showed none. Red on the old page: no notice.
test('notices: a stored run opened after a reload shows what the write-back skipped', async () => {
    const p = await page({ api: quinn });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, 'open("bad\\x01name.txt", "w").write("x")\nprint("wrote")\n');
    await waitSaved(p);
    await p.click('#run');
    await p.waitForSelector('.run-status[data-status=ok]', { timeout: 20000 });
    assert.match(await p.textContent('.run-output'), /not saved, its name or depth breaks the path rules/);
    await p.reload();
    await p.click('.ptab:has-text("History")');
    await p.click('.history-row');
    await p.waitForSelector('.run-status[data-status=ok]');
    const out = await p.textContent('.run-output');
    assert.match(out, /wrote/);
    assert.match(out, /not saved, its name or depth breaks the path rules/);
});
