// Writing code with the language services (src/lang.ts): typing `np.lin` offers
// `linspace`, an undefined name is underlined and counted, hover shows the docstring,
// Ctrl+click jumps to a workspace file, Shift+Alt+F formats, and a traceback line in the
// run output opens the file at the line. (Sorted after page.test.mjs, which registers the
// first account: this file's users are ordinary ones.) Screenshots in build/screenshots/.
import assert from 'node:assert/strict';
import { Api, editorText, missing, setEditorText, shot, suite, until, waitSaved } from './lib.mjs';

const api = new Api();
let ws = 0;
let p = null;
let skip = '';

const { test } = suite({
    closeEach: false,
    setup: async ({ page }) => {
        await api.register(`lang${Date.now().toString(36)}`);
        const r = await api.req('POST', '/api/workspaces', { name: 'lang' });
        ws = r.json.id;
        const probe = await api.req('POST', `/api/workspaces/${ws}/diagnostics`, { path: 'main.py', source: '' });
        if (probe.status === 404 || probe.status === 503) skip = `language services not available here (${probe.status})`;
        await api.req('PUT', `/api/workspaces/${ws}/files/util.py`, 'def helper(a, b):\n    """Adds a and b."""\n    return a + b\n');
        p = await page({ api, timeout: 30000 });
        await p.goto(`/w/${ws}`);
        await p.click('.tree-row[data-path="main.py"]');
    },
});

test('typing np.lin offers linspace, with its kind and docs', async (t) => {
    if (skip) return t.skip(skip);
    await setEditorText(p, 'import numpy as np\n');
    await p.keyboard.press('End');
    await p.keyboard.type('np.lin', { delay: 60 });
    // The first request of a fresh worker waits for it to import and index numpy.
    const option = p.locator('.cm-tooltip-autocomplete li', { hasText: 'linspace' });
    await option.first().waitFor({ timeout: 60000 });
    const labels = await p.$$eval('.cm-tooltip-autocomplete li .cm-completionLabel', (ls) => ls.map((l) => l.textContent));
    assert.ok(labels.includes('linspace'), labels.join(','));
    assert.equal(await option.first().locator('.cm-completionIcon-function').count(), 1);
    await shot(p, 'lang-completion');
    await option.first().click();
    assert.match(await editorText(p), /np\.linspace/);
});

test('an undefined name gets a squiggle and the status bar counts it', async (t) => {
    if (skip) return t.skip(skip);
    await setEditorText(p, 'import util\n\ntotal = util.helper(1, 2)\nprint(totl)\n');
    await p.waitForSelector('.cm-lintRange-error', { timeout: 30000 });
    assert.equal(await p.textContent('.cm-lintRange-error'), 'totl');
    await until(async () => (await p.getAttribute('.sb-problems', 'data-errors')) === '1', 10000);
    assert.equal(await p.getAttribute('.sb-problems', 'data-errors'), '1');
    await p.hover('.cm-lintRange-error');
    await p.waitForSelector('.cm-tooltip-lint');
    assert.match(await p.textContent('.cm-tooltip-lint'), /undefined name 'totl'/);
    await shot(p, 'lang-squiggle');
});

/** The centre of character `index` of the editor line whose text is `lineText`. */
async function charAt(page, lineText, index) {
    return page.evaluate(([text, i]) => {
        const line = [...document.querySelectorAll('.editor-host .cm-line')].find((l) => l.textContent === text);
        if (!line) return null;
        const w = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
        for (let n = w.nextNode(), off = i; n; n = w.nextNode()) {
            if (off < n.data.length) {
                const r = document.createRange();
                r.setStart(n, off);
                r.setEnd(n, off + 1);
                const b = r.getBoundingClientRect();
                return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
            }
            off -= n.data.length;
        }
        return null;
    }, [lineText, index]);
}

const CALL = 'total = util.helper(1, 2)';

test('hover shows the signature and docstring of a workspace function', async (t) => {
    if (skip) return t.skip(skip);
    await p.mouse.move(0, 0);
    const at = await charAt(p, CALL, CALL.indexOf('helper') + 2);
    await p.mouse.move(at.x, at.y);
    await p.waitForSelector('.cm-tooltip-hover .cm-lang-card', { timeout: 20000 });
    const card = await p.textContent('.cm-tooltip-hover .cm-lang-card');
    assert.match(card, /helper\(a, b\)/);
    assert.match(card, /Adds a and b\./);
    await shot(p, 'lang-hover');
});

test('Ctrl+click on a name opens the file where it is defined', async (t) => {
    if (skip) return t.skip(skip);
    await p.mouse.move(0, 0);
    const at = await charAt(p, CALL, CALL.indexOf('helper') + 2);
    await p.keyboard.down('Control');
    await p.mouse.click(at.x, at.y);
    await p.keyboard.up('Control');
    await until(async () => (await editorText(p)).startsWith('def helper'), 20000);
    assert.match(await editorText(p), /^def helper\(a, b\):/);
    const active = await p.$eval('.cm-activeLine', (el) => el.textContent);
    assert.equal(active, 'def helper(a, b):');
    await shot(p, 'lang-definition');
});

test('Shift+Alt+F formats the file with black', async (t) => {
    if (skip) return t.skip(skip);
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, 'x=1\ndef f( a ):\n  return {"a":a}\n');
    await p.keyboard.press('Shift+Alt+F');
    await until(async () => (await editorText(p)) === 'x = 1\n\n\ndef f(a):\n    return {"a": a}\n', 20000);
    assert.equal(await editorText(p), 'x = 1\n\n\ndef f(a):\n    return {"a": a}\n');
});

test('a traceback line in the run output opens the file at that line', async (t) => {
    if (skip) return t.skip(skip);
    if (await missing(api, `/api/workspaces/${ws}/runs`)) return t.skip('no runs here');
    await setEditorText(p, 'import util\n\n\ndef boom():\n    raise ValueError("no")\n\n\nboom()\n');
    await waitSaved(p);
    await p.keyboard.press('ControlOrMeta+Enter');
    await p.waitForSelector('.run-status[data-status=error]', { timeout: 30000 });
    const link = p.locator('.run-output a.out-loc[data-path="main.py"][data-line="5"]');
    await link.waitFor();
    // Move away first, so that the jump is seen.
    await p.click('.tree-row[data-path="util.py"]');
    await until(async () => (await editorText(p)).startsWith('def helper'), 10000);
    await link.click();
    await until(async () => (await editorText(p)).startsWith('import util'), 10000);
    const active = await p.$eval('.cm-activeLine', (el) => el.textContent);
    assert.equal(active, '    raise ValueError("no")');
    await shot(p, 'lang-traceback');
});

test('a traceback line in the terminal opens the file at that line', async (t) => {
    if (skip) return t.skip(skip);
    if (await missing(api, `/api/workspaces/${ws}/terminal?name=1`)) return t.skip('no terminals here');
    if (!(await p.isVisible('.term-panel'))) await p.click('#toggle-terminal');
    await p.waitForSelector('.term-state[data-state=open]', { timeout: 30000 });
    await p.click('.term-host .xterm');
    await p.keyboard.type('clear; python3 main.py\n');
    const frame = 'File "/home/user/main.py", line 5';
    await until(async () => (await p.textContent('.term-host .xterm-rows')).includes(frame), 20000);
    // Where the frame is drawn: the character 8 cells into it, measured on the row's text.
    const at = await p.evaluate((f) => {
        const row = [...document.querySelectorAll('.term-host .xterm-rows > div')].find((r) => r.textContent.includes(f));
        const w = document.createTreeWalker(row, NodeFilter.SHOW_TEXT);
        for (let n = w.nextNode(), off = row.textContent.indexOf(f) + 8; n; n = w.nextNode()) {
            if (off < n.data.length) {
                const r = document.createRange();
                r.setStart(n, off);
                r.setEnd(n, off + 1);
                const b = r.getBoundingClientRect();
                return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
            }
            off -= n.data.length;
        }
        return null;
    }, frame);
    // Move away first, so that the jump is seen.
    await p.click('.tree-row[data-path="util.py"]');
    await until(async () => (await editorText(p)).startsWith('def helper'), 10000);
    // xterm asks the link provider on hover, then shows a pointer over the link.
    await p.mouse.move(at.x, at.y);
    await p.waitForSelector('.term-host .xterm-cursor-pointer', { timeout: 10000 });
    await p.mouse.click(at.x, at.y);
    await until(async () => (await editorText(p)).startsWith('import util'), 10000);
    const active = await p.$eval('.cm-activeLine', (el) => el.textContent);
    assert.equal(active, '    raise ValueError("no")');
    await shot(p, 'lang-terminal-traceback');
});
