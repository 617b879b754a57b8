// Working together (issue 17, the live half), in browser contexts at once: two editors type
// into one file at the same time and both end with the same text holding every character,
// which is also what the server stores; a late joiner gets the merged text; a page that
// types over the whole text as it opens a co-edited file keeps exactly that text; a tab that
// looks at another file keeps the co-edited one up to date (it never saves an older text);
// a page reloaded right after typing finds its text, and its draft rejoins the document
// before it is saved; no save stores a text older than the one it replaces, even when a page
// hears of its peer's edits late; a run that rewrites the file resets every view to the
// stored bytes; a follower's editor goes to the file, cursor line and scroll of the person it
// follows. (Sorted after page.test.mjs, which registers the first
// account.) Screenshots in build/screenshots/.
import assert from 'node:assert/strict';
import { after, before, test as nodeTest } from 'node:test';
import { Api, closeBrowser, editorText, launch, newPage, shot, until, waitSaved } from './lib.mjs';

const api = new Api();
let ws = 0;
const pages = [];

const viewerApi = new Api();

/** A test whose failure leaves a screenshot of every page it had open (build/screenshots). */
function test(name, fn) {
    nodeTest(name, async (t) => {
        try {
            await fn(t);
        } catch (e) {
            for (const [i, p] of pages.entries()) await shot(p, `FAILED-together-${i}`).catch(() => {});
            throw e;
        }
    });
}

async function openIde(path, as = api) {
    const p = await newPage({ api: as, timeout: 20000 });
    pages.push(p);
    await p.goto(`/w/${ws}`);
    try {
        await p.click(`.tree-row[data-path="${path}"]`);
        await p.waitForSelector(`.tab.active[data-path="${path}"]`);
        await p.waitForSelector('.editor-host .cm-content');
    } catch (e) {
        await shot(p, `FAILED-together-open-${path}`).catch(() => {});
        throw e;
    }
    return p;
}

/** Waits until p's editor is bound to the file's shared document. */
async function shared(p) {
    await p.waitForSelector('.editor-host .cm-editor[data-shared=true]', { timeout: 20000 });
}

async function closeAll() {
    for (const p of pages.splice(0)) await p.context().close().catch(() => {});
}

/** Where p's editor draws the (one) other page's caret: the line it is on (0-based, among
 *  the lines drawn), the caret's x, and where that line's text starts and ends. */
async function caretAt(p) {
    return p.evaluate(() => {
        const c = document.querySelector('.editor-host .cm-peer-caret');
        if (!c) return null;
        const r = c.getBoundingClientRect();
        const y = (r.top + r.bottom) / 2;
        const lines = [...document.querySelectorAll('.editor-host .cm-line')];
        const line = lines.findIndex((l) => {
            const b = l.getBoundingClientRect();
            return y >= b.top && y <= b.bottom;
        });
        if (line < 0) return { line, last: lines.length - 1, x: r.left, textStart: 0, textEnd: 0, lineText: '' };
        const range = document.createRange();
        range.selectNodeContents(lines[line]);
        const t = range.getBoundingClientRect();
        return { line, last: lines.length - 1, x: r.left + 1, textStart: t.left, textEnd: t.right, lineText: lines[line].textContent };
    });
}

/** Every stored version of path, oldest first, as text. */
async function versions(path) {
    const h = await api.req('GET', `/api/workspaces/${ws}/files/${path}?history=1&limit=200`);
    assert.equal(h.status, 200, h.text);
    const out = [];
    for (const v of [...h.json.items].reverse()) {
        const r = await api.req('GET', `/api/workspaces/${ws}/files/${path}?version=${v.version}`);
        out.push(r.status === 200 ? r.text : null);
    }
    return out;
}

before(async () => {
    await launch();
    await api.register(`co${Date.now().toString(36)}`);
    const r = await api.req('POST', '/api/workspaces', { name: 'together' });
    ws = r.json.id;
    await api.req('PUT', `/api/workspaces/${ws}/files/main.py`, '# shared\nx = 1\n');
    await api.req('PUT', `/api/workspaces/${ws}/files/notes.py`, '# notes\n');
    const long = Array.from({ length: 300 }, (_, i) => `line_${i + 1} = ${i + 1}`).join('\n') + '\n';
    await api.req('PUT', `/api/workspaces/${ws}/files/long.py`, long);
    // The follower is a viewer: members are issue 17's other half.
    const v = await viewerApi.register(`cv${Date.now().toString(36)}`);
    const m = await api.req('POST', `/api/workspaces/${ws}/members`, { username: v.username, role: 'viewer' });
    assert.equal(m.status, 201, m.text);
});

after(async () => {
    await closeAll();
    await closeBrowser();
});

test('two editors typing at once both keep every keystroke, the file holds it, a late joiner gets it', async () => {
    const a = await openIde('main.py');
    const b = await openIde('main.py');
    await Promise.all([shared(a), shared(b)]);
    // A types at the start of the first line, B at the end of the file, at the same time.
    await a.click('.editor-host .cm-line >> nth=0');
    await a.keyboard.press('ControlOrMeta+Home');
    await b.click('.editor-host .cm-content');
    await b.keyboard.press('ControlOrMeta+End');
    const left = 'alpha_one_two_three_';
    const right = 'BETA-FOUR-FIVE-SIX';
    await Promise.all([
        a.keyboard.type(left, { delay: 25 }),
        b.keyboard.type(right, { delay: 25 }),
    ]);
    const same = await until(async () => {
        const [ta, tb] = [await editorText(a), await editorText(b)];
        return ta === tb && ta.includes(left) && ta.includes(right) ? ta : null;
    }, 20000);
    assert.ok(same.startsWith(`${left}# shared`), same);
    assert.ok(same.includes(right), same);
    // Each sees the other's cursor, with their name, where they type.
    for (const p of [a, b]) await p.waitForSelector('.editor-host .cm-peer-caret[data-name]');
    await until(async () => {
        const at = await caretAt(a);
        return at && at.line === at.last && at.lineText.includes(right) && Math.abs(at.x - at.textEnd) <= 3;
    }, 10000);
    await until(async () => {
        const at = await caretAt(b);
        return at && at.line === 0 && at.x > at.textStart + 20;
    }, 10000);
    await shot(a, 'collab-two-editors-a');
    await shot(b, 'collab-two-editors-b');
    // Saving is the file API: the stored bytes converge on the shared text.
    await until(async () => (await api.file(ws, 'main.py')) === same, 20000);
    await until(async () => (await a.getAttribute('.sb-save', 'data-state')) === 'saved' && (await b.getAttribute('.sb-save', 'data-state')) === 'saved', 20000);
    assert.equal(await api.file(ws, 'main.py'), same);
    // A third page opens the file while both are on it: it gets the merged text and joins.
    const c = await openIde('main.py');
    await shared(c);
    assert.equal(await editorText(c), same);
    await c.click('.editor-host .cm-content');
    await c.keyboard.press('ControlOrMeta+End');
    await c.keyboard.type('#late', { delay: 25 });
    const all = await until(async () => {
        const t = await Promise.all([a, b, c].map(editorText));
        return t.every((x) => x === t[0]) && t[0].includes('#late') ? t[0] : null;
    }, 20000);
    await until(async () => (await api.file(ws, 'main.py')) === all, 20000);
    assert.deepEqual([...a.errors, ...b.errors, ...c.errors], []);
    await closeAll();
});

test('a page that types over the whole text as it opens a co-edited file shows and stores exactly that text', async () => {
    // Issue 17: a page opens a file two others co-edit, selects all and types over it at once
    // (one replacement of the editable text by the browser) while the others' presence (their
    // carets, one at the end of the text) and the shared document arrive. It used to end
    // with an extra line break (3 rounds in 8 once): the carets were elements inside the editable
    // text, and the browser's replacement kept the last line, which held one, as an empty line.
    await api.req('PUT', `/api/workspaces/${ws}/files/over.py`, 'first = 1\nlast = 2\n');
    const a = await openIde('over.py');
    const b = await openIde('over.py');
    await Promise.all([shared(a), shared(b)]);
    await a.click('.editor-host .cm-content');
    await a.keyboard.press('ControlOrMeta+End');
    await b.click('.editor-host .cm-content');
    await b.keyboard.press('ControlOrMeta+Home');
    const seen = [];
    for (let i = 0; i < 8; i++) {
        const c = await openIde('over.py');
        await c.click('.editor-host .cm-content');
        await c.keyboard.press('ControlOrMeta+a');
        const want = `print("round ${i}")\n`;
        await c.keyboard.insertText(want);
        const typed = await editorText(c);
        await shared(c);
        const stored = await until(async () => {
            const [t, f, ta] = [await editorText(c), await api.file(ws, 'over.py'), await editorText(a)];
            return t === f && ta === t ? f : null;
        }, 20000);
        seen.push({ typed, stored });
        assert.deepEqual(c.errors, []);
        await c.context().close();
        pages.splice(pages.indexOf(c), 1);
        // The next round starts from the others' carets at the start and the end again.
        await b.keyboard.press('ControlOrMeta+Home');
        await a.keyboard.press('ControlOrMeta+End');
    }
    assert.deepEqual(seen, seen.map((_, i) => ({ typed: `print("round ${i}")\n`, stored: `print("round ${i}")\n` })));
    assert.deepEqual([...a.errors, ...b.errors], []);
    await closeAll();
});

test('a tab showing another file keeps the co-edited one current and never stores an older text', async () => {
    const a = await openIde('notes.py');
    const b = await openIde('notes.py');
    await Promise.all([shared(a), shared(b)]);
    // A goes to another file; notes.py stays open (and co-edited) in its background tab.
    await a.click('.tree-row[data-path="long.py"]');
    await a.waitForSelector('.tab.active[data-path="long.py"]');
    // B's updates travel slowly (each post held 2.5 s), so its saves can reach the server
    // before A has the edits they hold. A then learns of a stored text newer than its own:
    // it used to store its older text over it (a version that lost first_burst).
    const slow = '**/api/workspaces/*/docs/notes.py';
    await b.route(slow, async (r) => {
        if (r.request().method() === 'POST') await new Promise((res) => setTimeout(res, 2500));
        await r.continue();
    });
    await b.click('.editor-host .cm-content');
    await b.keyboard.press('ControlOrMeta+End');
    await b.keyboard.type('first_burst = 1\n', { delay: 20 });
    await until(async () => ((await api.file(ws, 'notes.py')) ?? '').includes('first_burst'), 20000);
    await b.keyboard.type('second_burst = 2\n', { delay: 20 });
    const want = await until(async () => {
        const t = await editorText(b);
        return t.includes('second_burst') ? `${t}` : null;
    });
    await until(async () => (await api.file(ws, 'notes.py')) === `${want}`, 20000);
    await b.unroute(slow);
    // Back on notes.py, A shows B's text; both say saved, and the file holds it.
    await a.click('.tab[data-path="notes.py"]');
    await until(async () => (await editorText(a)) === want, 20000);
    await until(async () => (await a.getAttribute('.sb-save', 'data-state')) === 'saved' && (await b.getAttribute('.sb-save', 'data-state')) === 'saved', 20000);
    assert.equal(await api.file(ws, 'notes.py'), want);
    // No stored version went back: once a burst was stored, every later version has it.
    const vs = await versions('notes.py');
    for (const burst of ['first_burst', 'second_burst']) {
        const i = vs.findIndex((v) => v?.includes(burst));
        assert.ok(i >= 0, `${burst} was stored`);
        assert.deepEqual(vs.slice(i).filter((v) => !v?.includes(burst)), [], `a version after ${burst} lost it: ${JSON.stringify(vs)}`);
    }
    assert.deepEqual([...a.errors, ...b.errors], []);
    await closeAll();
});

test('a click on the file tree or a tab lands while a peer\'s save re-renders them', async () => {
    // Each save by a peer refreshes the tree (and a peer's typing re-renders the tabs): a
    // press and its release that straddle such a render used to fall on two different
    // elements, and the click was lost (seen in the CI: a tree click that opened nothing).
    const a = await openIde('main.py');
    await a.click('.tree-row[data-path="notes.py"]');
    await a.waitForSelector('.tab.active[data-path="notes.py"]');
    const pressRelease = async (sel, rerender) => {
        const box = await a.locator(sel).boundingBox();
        await a.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
        await a.mouse.down();
        await rerender();
        await a.mouse.up();
    };
    // The tree: a new file arrives (a peer's save) between press and release.
    await pressRelease('.tree-row[data-path="long.py"]', async () => {
        await api.req('PUT', `/api/workspaces/${ws}/files/zz_peer.py`, 'x = 1\n');
        await a.waitForSelector('.tree-row[data-path="zz_peer.py"]');
    });
    await a.waitForSelector('.tab.active[data-path="long.py"]');
    // The tabs: a peer saves the file on screen (the page takes it in, the bar is drawn
    // again) meanwhile.
    const long = await api.file(ws, 'long.py');
    await pressRelease('.tab[data-path="main.py"]', async () => {
        await api.req('PUT', `/api/workspaces/${ws}/files/long.py`, `# a peer's line\n${long}`);
        await until(async () => (await editorText(a)).startsWith("# a peer's line"), 20000);
    });
    await a.waitForSelector('.tab.active[data-path="main.py"]');
    await api.req('PUT', `/api/workspaces/${ws}/files/long.py`, long);
    await api.req('DELETE', `/api/workspaces/${ws}/files/zz_peer.py`);
    assert.deepEqual(a.errors, []);
    await closeAll();
});

test('a co-editing page that goes offline says so, keeps its text and saves it once back', async () => {
    const a = await openIde('notes.py');
    const b = await openIde('notes.py');
    await Promise.all([shared(a), shared(b)]);
    await a.context().setOffline(true);
    await a.click('.editor-host .cm-content');
    await a.keyboard.press('ControlOrMeta+End');
    await a.keyboard.type('typed_offline = 1\n', { delay: 10 });
    // Its save used to wait for its updates to be posted, which cannot happen offline:
    // the status said "Saving…" for as long as the network was gone.
    await until(async () => (await a.getAttribute('.sb-save', 'data-state')) === 'offline', 20000);
    await a.context().setOffline(false);
    await until(async () => ((await api.file(ws, 'notes.py')) ?? '').includes('typed_offline = 1'), 30000);
    await until(async () => (await editorText(b)).includes('typed_offline = 1'), 20000);
    await waitSaved(a);
    assert.deepEqual([...a.errors, ...b.errors], []);
    await closeAll();
});

test('a co-editing page reloaded right after typing finds its text, and so does its peer', async () => {
    const a = await openIde('main.py');
    const b = await openIde('main.py');
    await Promise.all([shared(a), shared(b)]);
    await a.click('.editor-host .cm-content');
    await a.keyboard.press('ControlOrMeta+End');
    await a.keyboard.type('reloaded = True', { delay: 10 });
    await a.reload();
    await a.waitForSelector('.editor-host .cm-content');
    // The editor (not a conflict) with the text typed before the reload.
    await until(async () => (await editorText(a)).includes('reloaded = True'), 20000);
    assert.equal(await a.locator('.conflict').count(), 0);
    await until(async () => ((await api.file(ws, 'main.py')) ?? '').includes('reloaded = True'), 20000);
    await until(async () => (await editorText(b)).includes('reloaded = True'), 20000);
    await waitSaved(a);
    await waitSaved(b);
    const stored = await api.file(ws, 'main.py');
    assert.equal(await editorText(a), stored);
    assert.equal(await editorText(b), stored);
    assert.deepEqual([...a.errors, ...b.errors], []);
    await closeAll();
});

test('a co-editing page reloaded before its peer saves rejoins the document before it saves its draft', async () => {
    const a = await openIde('main.py');
    const b = await openIde('main.py');
    await Promise.all([shared(a), shared(b)]);
    const before = await api.file(ws, 'main.py');
    // Held: A's last keystrokes before the reload never reach the document (only A's draft
    // has them); B's saves until A, reloaded, has sent its own; A's until B's is stored. A's
    // event stream after the reload waits for A's save, so A cannot learn from B's presence
    // that the file is co-edited: only its draft can say so. It used to save the draft as a
    // plain file, which lost to B's save of the shared text as a conflict.
    let reloaded = false;
    let stopPosts = false;
    let goA, goB, sawPut;
    const aGo = new Promise((r) => (goA = r));
    const bGo = new Promise((r) => (goB = r));
    const aPut = new Promise((r) => (sawPut = r));
    await a.route('**/api/workspaces/*/files/main.py', async (r) => {
        if (r.request().method() === 'PUT') {
            if (reloaded) sawPut(r.request().headers()['x-pyroom-doc'] ?? null);
            await aGo;
        }
        await r.continue().catch(() => {});
    });
    await a.route('**/api/workspaces/*/docs/main.py', async (r) => {
        if (r.request().method() === 'POST' && stopPosts && !reloaded) return; // the reload cancels it
        await r.continue().catch(() => {});
    });
    await a.route((url) => /\/api\/workspaces\/\d+\/events$/.test(url.pathname), async (r) => {
        if (reloaded) await aPut;
        await r.continue().catch(() => {});
    });
    await b.route('**/api/workspaces/*/files/main.py', async (r) => {
        if (r.request().method() === 'PUT') await bGo;
        await r.continue().catch(() => {});
    });
    await a.click('.editor-host .cm-content');
    await a.keyboard.press('ControlOrMeta+End');
    await a.keyboard.type('\nheld_draft = 1', { delay: 10 });
    await until(async () => (await editorText(b)).includes('held_draft = 1'), 20000);
    stopPosts = true;
    await a.keyboard.type('  # tail', { delay: 10 });
    await until(() => a.evaluate(() => Object.keys(localStorage).some((k) => k.endsWith(':main.py') && localStorage.getItem(k).includes('# tail'))), 20000);
    a.once('framenavigated', () => (reloaded = true));
    await a.reload();
    await a.waitForSelector('.editor-host .cm-content');
    // A's first save after the reload names the document (X-Pyroom-Doc: its id): the draft
    // went into the shared text.
    assert.match(String(await aPut), /^[1-9][0-9]*$/);
    assert.equal(await api.file(ws, 'main.py'), before);
    goB();
    await until(async () => (await api.file(ws, 'main.py')) !== before, 20000);
    goA();
    // Never a conflict with B's save; both pages and the file end with all of A's text, once.
    await until(async () => ((await api.file(ws, 'main.py')) ?? '').includes('held_draft = 1  # tail'), 20000);
    assert.equal(await a.locator('.conflict').count(), 0);
    await until(async () => (await editorText(b)).includes('held_draft = 1  # tail'), 20000);
    await waitSaved(a);
    await waitSaved(b);
    const stored = await api.file(ws, 'main.py');
    assert.equal(stored.split('held_draft').length, 2, stored);
    assert.equal(await editorText(a), stored);
    assert.equal(await editorText(b), stored);
    assert.deepEqual([...a.errors, ...b.errors], []);
    await closeAll();
});

test('a run that rewrites the co-edited file resets both views to the stored bytes', async () => {
    await api.req('PUT', `/api/workspaces/${ws}/files/writer.py`, "open('main.py', 'w').write('print(\"written by a run\")\\n')\n");
    const a = await openIde('main.py');
    const b = await openIde('main.py');
    await Promise.all([shared(a), shared(b)]);
    await a.click('.editor-host .cm-content');
    await a.keyboard.press('ControlOrMeta+End');
    await a.keyboard.type('# before the run', { delay: 10 });
    await until(async () => (await editorText(b)).includes('# before the run'), 20000);
    await until(async () => ((await api.file(ws, 'main.py')) ?? '').includes('# before the run'), 20000);
    await waitSaved(a);
    await waitSaved(b);
    const run = await api.req('POST', `/api/workspaces/${ws}/runs?wait=1`, { entry: 'writer.py' });
    assert.equal(run.status, 200, run.text);
    assert.equal(run.json.status, 'ok', run.text);
    const want = 'print("written by a run")\n';
    assert.equal(await api.file(ws, 'main.py'), want);
    for (const p of [a, b]) await until(async () => (await editorText(p)) === want, 20000);
    // Both co-edit the new text again, and nobody wrote the old one back.
    await Promise.all([shared(a), shared(b)]);
    await b.click('.editor-host .cm-content');
    await b.keyboard.press('ControlOrMeta+End');
    await b.keyboard.type('# after', { delay: 10 });
    await until(async () => (await editorText(a)).includes('# after'), 20000);
    await until(async () => (await api.file(ws, 'main.py')) === `${want}# after`, 20000);
    const vs = await versions('main.py');
    const i = vs.indexOf(want);
    assert.ok(i >= 0);
    assert.deepEqual(vs.slice(i).filter((v) => v.includes('# before the run')), [], `the old text came back: ${JSON.stringify(vs.slice(i))}`);
    assert.deepEqual([...a.errors, ...b.errors], []);
    await closeAll();
});

test('a viewer following the leader sees their file, cursor line, scroll and typing', async () => {
    const leader = await openIde('main.py');
    const follower = await openIde('main.py', viewerApi);
    // The leader moves to long.py: the follower learns of it, and its chip names long.py.
    await leader.click('.tree-row[data-path="long.py"]');
    const chip = follower.locator('.presence-chip', { hasText: 'long.py' });
    await chip.first().waitFor();
    // The race, made to happen every time: the follower's own look at long.py's document
    // finds none (the leader starts it only once the follower's presence arrives), and that
    // answer reaches the follower only after the leader's start was relayed to it.
    const docs = '**/api/workspaces/*/docs/long.py';
    let held = 0;
    await follower.route(docs, async (r) => {
        if (r.request().method() !== 'GET' || held++) return r.continue();
        const res = await r.fetch();
        await leader.waitForSelector('.editor-host .cm-editor[data-shared=true]', { timeout: 20000 }).catch(() => {});
        await r.fulfill({ response: res });
    });
    await chip.first().click();
    assert.equal(await chip.first().getAttribute('aria-pressed'), 'true');
    // The follower goes to the leader's file at once, and both join its document: the
    // viewer cannot start one, so the leader starts it when the viewer's presence arrives,
    // and the viewer joins it when it hears of it, even while its own look found none.
    await until(async () => (await follower.getAttribute('.tab.active', 'data-path')) === 'long.py', 10000);
    await shared(leader);
    await shared(follower);
    await follower.unroute(docs);
    // The leader scrolls down and puts the cursor on a line there.
    await leader.evaluate(() => {
        document.querySelector('.editor-host .cm-scroller').scrollTop = 2400;
    });
    const target = leader.locator('.editor-host .cm-line', { hasText: /^line_130 = 130$/ });
    await target.click();
    await leader.keyboard.press('End');
    const leaderLine = /Ln (\d+),/.exec(await leader.textContent('.statusbar'))[1];
    assert.equal(leaderLine, '130');
    await until(async () => /Ln 130, Col 15/.test(await follower.textContent('.statusbar')), 10000);
    const scrolls = async () => Promise.all([leader, follower].map((p) => p.evaluate(() => document.querySelector('.editor-host .cm-scroller').scrollTop)));
    await until(async () => {
        const [l, f] = await scrolls();
        return Math.abs(l - f) <= 2 && l > 1000;
    }, 10000);
    // The leader types: the follower sees the characters (co-editing) where the cursor is.
    await leader.keyboard.type('  # watched', { delay: 20 });
    await until(async () => (await editorText(follower)).includes('line_130 = 130  # watched'), 10000);
    await until(async () => /Ln 130, Col 26/.test(await follower.textContent('.statusbar')), 10000);
    // The typing is the leader's to save: the viewer's tab and status bar do not call it theirs.
    assert.equal(await follower.locator('.tab.dirty').count(), 0, "the viewer's tab is not marked unsaved");
    assert.ok(!/Unsaved changes/.test(await follower.textContent('.statusbar')), "the viewer's status bar does not say unsaved");
    await shot(leader, 'collab-follow-leader');
    await shot(follower, 'collab-follow-follower');
    // Clicking into the editor stops following; a viewer's typing changes nothing.
    await follower.click('.editor-host .cm-content');
    assert.equal(await follower.locator('.presence-chip.following').count(), 0);
    await follower.keyboard.type('nope');
    assert.ok(!(await editorText(follower)).includes('nope'));
    await until(async () => (await api.file(ws, 'long.py')).includes('line_130 = 130  # watched'), 10000);
    assert.ok(!(await api.file(ws, 'long.py')).includes('nope'));
    assert.deepEqual([...leader.errors, ...follower.errors], []);
});
