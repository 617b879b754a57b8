// The page's second pass (issue 19): each test reproduces one bug a user hit and checks
// what the page does now. Runs after page.test.mjs (file order), with its own users.
import assert from 'node:assert/strict';
import { Api, BASE, createWorkspaceUI, setEditorText, shot, suite, until, waitSaved } from './lib.mjs';

const PW = 'correct horse 1';
const pia = new Api();
let ws = 0;
const { test, page } = suite({
    setup: async ({ page }) => {
        await pia.register('pia', PW);
        const p = await page({ api: pia });
        ws = await createWorkspaceUI(p, 'Second pass');
        await p.context().close();
    },
});

/** A file's bytes as a latin-1 string (fetch's text() would drop a byte-order mark). */
async function fileBytes(path) {
    const r = await fetch(`${BASE}/api/workspaces/${ws}/files/${path}`, { headers: { Cookie: pia.cookie } });
    return Buffer.from(await r.arrayBuffer()).toString('latin1');
}
const utf8 = (s) => Buffer.from(s, 'utf8').toString('latin1');

async function putFile(path, body) {
    const r = await pia.req('PUT', `/api/workspaces/${ws}/files/${path}`, body, { 'Content-Type': 'application/octet-stream' });
    assert.ok(r.status === 200 || r.status === 201, `PUT ${path}: ${r.status} ${r.text}`);
    return r;
}

// B3: `while True: print("x" * 1000)` is stopped by the server at the output limit within a
// second, but the old page appended every chunk to one growing text node and measured the
// scroll height each time: the tab froze for a minute. Red on the old page: the verdict and
// the typed text did not appear within the deadline.
test('B3: an output flood leaves the page responsive and ends with the output-limit verdict', async () => {
    const p = await page({ api: pia });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, 'while True:\n    print("x" * 1000)\n');
    await waitSaved(p);
    await p.click('#run');
    // While it streams, typing in the editor still works.
    await p.waitForSelector('.run-output .out-stdout');
    await p.click('.editor-host .cm-content');
    await p.keyboard.press('ControlOrMeta+End');
    await p.keyboard.type('#ok');
    await until(async () => (await p.textContent('.editor-host .cm-content')).includes('#ok'), 15000);
    assert.ok((await p.textContent('.editor-host .cm-content')).includes('#ok'), 'typed text shows during the flood');
    await p.waitForSelector('.run-status[data-status=limit]', { timeout: 20000 });
    assert.match(await p.textContent('.run-status'), /Output limit/);
    // The output shown is bounded: lines, not one megabyte-long text node.
    const lines = await p.$$eval('.run-output .out-line', (ls) => ls.length);
    assert.ok(lines > 100, `the flood's lines are shown (${lines})`);
    assert.ok(lines <= 5001, `at most 5000 lines in the page (${lines})`);
    await shot(p, 'b3-flood');
});

// B2: a CSV written by csv.writer (CRLF) showed unsaved when opened and was rewritten with
// LF when its tab closed (36 bytes became 30). Red on the old page: the tab was dirty at once.
test('B2: a CRLF file stays byte-exact when opened and closed, keeps CRLF when edited, converts on request', async () => {
    const crlf = 'name,score\r\nada,36\r\ngrace,41\r\nlin,7\r\n';
    await putFile('data.csv', crlf);
    await putFile('bom.txt', '\ufeffhello\r\n');
    const p = await page({ api: pia });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="data.csv"]');
    await p.waitForSelector('.tab.active[data-path="data.csv"]');
    await p.waitForSelector('.sb-save[data-state]');
    assert.equal(await p.getAttribute('.sb-save', 'data-state'), 'saved', 'opening does not make it unsaved');
    assert.ok(!(await p.$('.tab.active.dirty')), 'the tab is not marked unsaved');
    assert.match(await p.textContent('.sb-eol'), /CRLF/);
    await shot(p, 'b2-crlf');
    // Close it; then save another file, so any write the close started has reached the server.
    await p.click('.tab[data-path="data.csv"] .tab-close');
    await p.click('.tree-row[data-path="bom.txt"]');
    await p.waitForSelector('.tab.active[data-path="bom.txt"]');
    assert.match(await p.textContent('.sb-eol'), /BOM/);
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, 'print("barrier")\n');
    await waitSaved(p);
    assert.equal(await pia.file(ws, 'data.csv'), crlf, 'the file is unchanged, byte for byte');
    // An edit keeps CRLF (and the BOM of the other file).
    await p.click('.tree-row[data-path="data.csv"]');
    await p.waitForSelector('.tab.active[data-path="data.csv"]');
    await p.click('.editor-host .cm-content');
    await p.keyboard.press('ControlOrMeta+End');
    await p.keyboard.type('kim,12');
    await p.keyboard.press('Enter');
    await waitSaved(p);
    await until(async () => (await pia.file(ws, 'data.csv')) === `${crlf}kim,12\r\n`);
    assert.equal(await pia.file(ws, 'data.csv'), `${crlf}kim,12\r\n`);
    await p.click('.tree-row[data-path="bom.txt"]');
    await p.waitForSelector('.tab.active[data-path="bom.txt"]');
    await p.click('.editor-host .cm-content');
    await p.keyboard.press('ControlOrMeta+End');
    await p.keyboard.type('!');
    await waitSaved(p);
    await until(async () => (await fileBytes('bom.txt')) === utf8('\ufeffhello\r\n!'));
    assert.equal(await fileBytes('bom.txt'), utf8('\ufeffhello\r\n!'));
    // Converting is a choice in the status bar.
    await p.click('.tab[data-path="data.csv"]');
    await p.click('.sb-eol');
    await p.click('dialog button:has-text("Convert to LF")');
    await waitSaved(p);
    const lf = `${crlf}kim,12\r\n`.replace(/\r\n/g, '\n');
    await until(async () => (await pia.file(ws, 'data.csv')) === lf);
    assert.equal(await pia.file(ws, 'data.csv'), lf);
    assert.match(await p.textContent('.sb-eol'), /LF/);
});

// B6: the output showed ANSI escapes as text and ran "\r" progress lines together.
// Red on the old page: the escape character was in the output's text.
test('B6: ANSI colours are shown as colours, "\\r" overwrites the line, traceback locations open the file', async () => {
    const p = await page({ api: pia });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, [
        'import sys, time',
        'print("\\x1b[31mred\\x1b[0m plain \\x1b[1;32mbold green\\x1b[0m")',
        'for i in range(5):',
        '    sys.stdout.write(f"\\rprogress {i}/4")',
        '    sys.stdout.flush()',
        'print()',
        'def f():',
        '    raise ValueError("boom")',
        'f()',
        '',
    ].join('\n'));
    await waitSaved(p);
    await p.click('#run');
    await p.waitForSelector('.run-status[data-status=error]', { timeout: 30000 });
    const out = await p.textContent('.run-output');
    assert.ok(!out.includes('\x1b') && !out.includes('␛'), `no escape characters in ${JSON.stringify(out.slice(0, 200))}`);
    assert.match(out, /red plain bold green\n/);
    assert.match(out, /progress 4\/4\n/);
    assert.ok(!out.includes('progress 0/4'), 'the progress line overwrote itself');
    assert.equal(await p.textContent('.run-output .ansi-fg-1'), 'red');
    assert.equal(await p.textContent('.run-output .ansi-fg-2.ansi-bold'), 'bold green');
    await shot(p, 'b6-ansi');
    // The traceback's last frame in main.py is a link to line 8.
    const links = await p.$$('.run-output a.out-loc[data-path="main.py"]');
    assert.ok(links.length >= 2, 'traceback locations are links');
    await p.click('.run-output a.out-loc[data-line="8"]');
    await until(async () => /Ln 8,/.test(await p.textContent('.statusbar')));
    assert.match(await p.textContent('.statusbar'), /Ln 8,/);
});

// B1: with many files open the old tabs shrank until names were one letter (8 files at 1440
// px) or 0 px wide (1024 px), with no scrolling and no list. Red on the old page: the tab
// names were narrower than their text.
test('B1: many open tabs keep readable names, scroll, keep the active one in view, and list all', async () => {
    const names = [];
    for (let i = 1; i <= 11; i++) {
        const n = `lesson_${String(i).padStart(2, '0')}.py`;
        names.push(n);
        await putFile(n, `print(${i})\n`);
    }
    const p = await page({ api: pia });
    await p.setViewportSize({ width: 1024, height: 700 });
    await p.goto(`/w/${ws}`);
    for (const n of names) {
        await p.click(`.tree-row[data-path="${n}"]`);
        await p.waitForSelector(`.tab.active[data-path="${n}"]`);
    }
    const measure = () => p.$$eval('.tabs .tab', (ts) => ts.map((t) => {
        const name = t.querySelector('.tab-name');
        return { path: t.dataset.path, w: name.clientWidth, need: name.scrollWidth };
    }));
    const readable = (ts) => ts.every((t) => t.w >= 40 && t.need <= t.w + 1);
    await until(async () => readable(await measure()), 5000);
    const tabs = await measure();
    assert.ok(tabs.length >= 11);
    for (const t of tabs) assert.ok(t.w >= 40 && t.need <= t.w + 1, `tab ${t.path} shows its name (${t.w}px of ${t.need}px)`);
    const inView = (path) => p.evaluate((path) => {
        const bar = document.querySelector('.tabs').getBoundingClientRect();
        const r = document.querySelector(`.tab[data-path="${CSS.escape(path)}"]`).getBoundingClientRect();
        return r.left >= bar.left - 1 && r.right <= bar.right + 1;
    }, path);
    assert.ok(await inView(names[10]), 'the active tab is scrolled into view');
    await shot(p, 'b1-tabs-1024');
    // The list of open files reaches the ones scrolled away.
    await p.click('.tabs-more');
    await p.waitForSelector('.pmenu .pmenu-item');
    const listed = await p.$$eval('.pmenu .pmenu-item', (ms) => ms.map((m) => m.dataset.path));
    for (const n of names) assert.ok(listed.includes(n), `${n} is in the list`);
    await shot(p, 'b1-tabs-list');
    await p.click(`.pmenu .pmenu-item[data-path="${names[0]}"]`);
    await p.waitForSelector(`.tab.active[data-path="${names[0]}"]`);
    assert.ok(await inView(names[0]), 'the chosen tab is scrolled into view');
    assert.equal(await p.$('.pmenu'), null, 'the list closed');
});

// B4: the 4th live environment showed "Cannot connect; retrying…" forever (the handshake got
// 429, which a browser is not told), × did not end the shell or free the slot, and there was
// no list of live environments. Red on the old page: no message and no list appeared.
test('B4: at the terminal limit the page says so, lists the live environments, and End frees a slot; × can end the shell', async () => {
    const others = [];
    for (let i = 1; i <= 3; i++) {
        const r = await pia.req('POST', '/api/workspaces', { name: `busy ${i}` });
        assert.equal(r.status, 201, r.text);
        others.push(r.json.id);
    }
    // Three environments held open by another tab of the same user.
    const holder = await page({ api: pia });
    await holder.goto('/');
    await holder.evaluate((ids) => Promise.all(ids.map((id) => new Promise((res, rej) => {
        const s = new WebSocket(`ws://${location.host}/api/workspaces/${id}/terminal?name=1`);
        (window.held ??= []).push(s);
        s.onopen = () => res();
        s.onerror = () => rej(new Error(`terminal of ${id} did not open`));
    }))), others);
    const listed = async () => (await pia.req('GET', '/api/terminals')).json.items.map((e) => e.workspace_id).sort();
    assert.deepEqual(await listed(), [...others].sort());

    const p = await page({ api: pia });
    await p.goto(`/w/${ws}`);
    await p.waitForSelector('.cm-content');
    await p.click('#toggle-terminal');
    await p.waitForSelector('.term-refused', { timeout: 20000 });
    assert.match(await p.textContent('.term-refused'), /3 live environments, the most allowed/);
    assert.equal((await p.$$('.term-refused .env-row')).length, 3);
    assert.match(await p.textContent('.term-state'), /limit/i);
    await shot(p, 'b4-terminal-limit');
    // End one: the terminal here connects.
    await p.click(`.term-refused .env-row[data-ws="${others[0]}"] button`);
    await p.waitForSelector('.term-state[data-state=open]', { timeout: 20000 });
    assert.equal(await p.$('.term-refused'), null);
    assert.deepEqual(await listed(), [ws, others[1], others[2]].sort());
    // × asks, and "End shell" ends it on the server.
    await p.click('.ttab .tab-close');
    await p.click('dialog button:has-text("End shell")');
    await until(async () => !(await listed()).includes(ws), 15000);
    assert.ok(!(await listed()).includes(ws), 'the environment of this workspace ended');
    await holder.evaluate(() => window.held.forEach((s) => s.close()));
});

// B5: with input() waiting, typing went into the code, not to the program.
// Red on the old page: the typed name edited main.py and the program never got it.
test('B5: a running program gets the keys typed after Run; the editor gets them back after', async () => {
    const p = await page({ api: pia });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="main.py"]');
    const code = 'name = input("Your name? ")\nprint(f"hi {name}")\n';
    await setEditorText(p, code);
    await waitSaved(p);
    if (await p.isVisible('#stdin')) await p.fill('#stdin', '');
    await p.click('.editor-host .cm-content');
    await p.keyboard.press('ControlOrMeta+Enter');
    await until(async () => (await p.textContent('.run-output')).includes('Your name?'), 20000);
    await p.keyboard.type('Ada');
    await p.keyboard.press('Enter');
    await p.waitForSelector('.run-status[data-status=ok]', { timeout: 20000 });
    assert.match(await p.textContent('.run-output'), /hi Ada/);
    assert.ok(!(await p.textContent('.editor-host .cm-content')).includes('Ada'), 'the code was not edited');
    await p.keyboard.type('#after');
    assert.ok((await p.textContent('.editor-host .cm-content')).includes('#after'), 'the editor has the focus again');
});

// B7: the tree's keyboard cursor stayed on the row clicked last while the highlight moved to
// the file opened from a tab, so Delete named a different file than the highlighted one.
// Red on the old page: the dialog named lesson_01.py.
test('B7: Delete in the tree acts on the highlighted (open) file', async () => {
    const p = await page({ api: pia });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="lesson_01.py"]');
    await p.waitForSelector('.tab.active[data-path="lesson_01.py"]');
    await p.click('.tree-row[data-path="main.py"]');
    await p.click('.tab[data-path="lesson_01.py"]');
    await p.click('.tab[data-path="main.py"]');
    await p.waitForSelector('.tree-row.active[data-path="main.py"]');
    await p.click('.tree-row[data-path="lesson_01.py"]');
    await p.click('.tab[data-path="main.py"]');
    await p.waitForSelector('.tree-row.active[data-path="main.py"]');
    await p.focus('.tree');
    await p.keyboard.press('Delete');
    await p.waitForSelector('dialog');
    const text = await p.textContent('dialog');
    assert.match(text, /"main\.py" will be deleted/);
    await p.click('dialog button:has-text("Cancel")');
    assert.ok(await pia.file(ws, 'lesson_01.py'));
});

// B13: F5, Ctrl+H and Ctrl+P did nothing, and Tab was trapped in the editor without a hint.
// Red on the old page: no quick-open list appeared.
test('B13: Ctrl+P goes to a file, F5 runs it, Ctrl+H opens replace, and the editor says how to leave it', async () => {
    const p = await page({ api: pia });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="main.py"]');
    await p.click('.editor-host .cm-content');
    assert.ok(await p.isVisible('.sb-tabhint'), 'the hint shows while the editor has the focus');
    assert.match(await p.textContent('.sb-tabhint'), /Esc then Tab/);
    await p.keyboard.press('Control+p');
    await p.waitForSelector('.qo .qo-input');
    await p.keyboard.type('l11');
    assert.equal(await p.getAttribute('.qo-item.selected', 'data-path'), 'lesson_11.py');
    await shot(p, 'b13-quick-open');
    await p.keyboard.press('Enter');
    await p.waitForSelector('.tab.active[data-path="lesson_11.py"]');
    assert.equal(await p.$('.qo'), null);
    await p.click('.editor-host .cm-content');
    await p.keyboard.press('F5');
    await p.waitForSelector('.run-status[data-status=ok]', { timeout: 20000 });
    assert.match(await p.textContent('.run-output'), /^11\n/);
    await p.click('.editor-host .cm-content');
    await p.keyboard.press('Control+h');
    await p.waitForSelector('.cm-search input[name=replace]');
    assert.equal(await p.evaluate(() => document.activeElement?.getAttribute('name')), 'replace');
});

// B8: on a phone the IDE kept three columns with the output and the header buttons off
// screen, and the workspace list overflowed. Red on the old page: Run was off screen.
test('B8: on a 390 px phone one pane shows at a time, switched at the bottom; nothing overflows', async () => {
    const p = await page({ api: pia, colorScheme: 'light' });
    await p.setViewportSize({ width: 390, height: 844 });
    await p.goto('/');
    await p.waitForSelector(`tr[data-id="${ws}"]`);
    const overflow = () => p.evaluate(() => document.documentElement.scrollWidth - innerWidth);
    assert.ok((await overflow()) <= 0, 'the workspace list fits the screen');
    await shot(p, 'b8-phone-list');
    await p.goto(`/w/${ws}`);
    await p.waitForSelector('.cm-content');
    const box = await p.$eval('#run', (b) => b.getBoundingClientRect().toJSON());
    assert.ok(box.right <= 390 && box.left >= 0, `Run is on screen (${box.left}..${box.right})`);
    assert.ok(await p.isVisible('.ide-views'));
    assert.ok(!(await p.isVisible('.run-panel')), 'one pane at a time');
    assert.ok((await overflow()) <= 0, 'the IDE fits the screen');
    await shot(p, 'b8-phone-code');
    await p.click('.view-btn[data-view=files]');
    await p.waitForSelector('.tree-row[data-path="lesson_02.py"]');
    assert.ok(!(await p.isVisible('.editor-host')));
    await shot(p, 'b8-phone-files');
    await p.click('.tree-row[data-path="lesson_02.py"]');
    await p.waitForSelector('.tab.active[data-path="lesson_02.py"]');
    assert.ok(await p.isVisible('.editor-host'), 'opening a file shows the code');
    await p.click('#run');
    await p.waitForSelector('.run-status[data-status=ok]', { timeout: 20000 });
    assert.ok(await p.isVisible('.run-output'), 'running shows the output');
    assert.match(await p.textContent('.run-output'), /^2\n/);
    await shot(p, 'b8-phone-output');
});

// The look at the three sizes people use, light and dark: nothing overflows sideways.
// Screenshots: build/screenshots/screen-{1440,1024,390}-{light,dark}.png.
test('screens: the IDE with a run fits at 1440x900, 1024x700 and 390x844, light and dark', async () => {
    await putFile('main.py', 'import sys\nprint("\\x1b[32mok\\x1b[0m squares:", [n * n for n in range(8)])\nfor i in range(3):\n    print(f"step {i}")\nprint("a warning", file=sys.stderr)\n');
    for (const scheme of ['light', 'dark']) {
        for (const [w, hgt] of [[1440, 900], [1024, 700], [390, 844]]) {
            const p = await page({ api: pia, colorScheme: scheme });
            await p.setViewportSize({ width: w, height: hgt });
            await p.goto(`/w/${ws}`);
            await p.waitForSelector('.cm-content');
            await p.click(w > 700 ? '.tree-row[data-path="main.py"]' : '.tab[data-path="main.py"]');
            await p.waitForSelector('.tab.active[data-path="main.py"]');
            await p.click('#run');
            await p.waitForSelector('.run-status[data-status=ok]', { timeout: 20000 });
            assert.ok((await p.evaluate(() => document.documentElement.scrollWidth - innerWidth)) <= 0, `nothing overflows at ${w}px ${scheme}`);
            await shot(p, `screen-${w}-${scheme}`);
            await p.context().close();
        }
    }
});

// B9: a disabled account was told "Wrong username or password."
// Red on the old server and page: the message was the wrong-password one.
test('B9: a disabled account is told so (with the right password only)', async () => {
    const gus = new Api();
    const me = await gus.register('gus', PW);
    const adminApi = new Api();
    await adminApi.login('ada', PW).catch(async () => adminApi.login('pia', PW));
    let r = await adminApi.req('PATCH', `/api/admin/users/${me.id}`, { disabled: true });
    assert.equal(r.status, 200, r.text);
    const p = await page();
    await p.goto('/login');
    await p.fill('#username', 'gus');
    await p.fill('#password', PW);
    await p.click('form.auth-form button[type=submit]');
    await p.waitForSelector('.form-error:not([hidden])');
    assert.match(await p.textContent('.form-error'), /disabled/i);
    await shot(p, 'b9-disabled');
    await p.fill('#password', 'wrong password 1');
    await p.click('form.auth-form button[type=submit]');
    await until(async () => /wrong username or password/i.test(await p.textContent('.form-error')));
    assert.match(await p.textContent('.form-error'), /wrong username or password/i);
});

// B12: an admin in another user's workspace saw no owner and was offered Submit, which failed.
// Red on the old page: no owner shown.
test('B12: an admin in someone else\'s workspace sees whose it is and is not offered Submit', async () => {
    const hal = new Api();
    await hal.register('hal', PW);
    const r = await hal.req('POST', '/api/workspaces', { name: 'hal work' });
    assert.equal(r.status, 201);
    const adminApi = new Api();
    await adminApi.login('ada', PW).catch(async () => adminApi.login('pia', PW));
    const p = await page({ api: adminApi });
    await p.goto(`/w/${r.json.id}`);
    await p.waitForSelector('.cm-content');
    assert.match(await p.textContent('.owner-badge'), /hal/);
    assert.equal(await p.$('#submit-review'), null);
    await shot(p, 'b12-admin-foreign');
    // The owner still has Submit.
    const q = await page({ api: hal });
    await q.goto(`/w/${r.json.id}`);
    await q.waitForSelector('#submit-review');
    assert.equal(await q.$('.owner-badge'), null);
});

// B10: after `mv hello.py greet.py` in the terminal, Ctrl+Enter with the stale tab silently
// wrote hello.py again and ran it. Red on the old page: hello.py came back.
test('B10: a file moved elsewhere is not silently re-saved or run from its stale tab', async () => {
    await putFile('hello.py', 'print("hello")\n');
    const p = await page({ api: pia });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="hello.py"]');
    await p.waitForSelector('.tab.active[data-path="hello.py"]');
    const r = await pia.req('POST', `/api/workspaces/${ws}/move`, { from: 'hello.py', to: 'greet.py' });
    assert.equal(r.status, 200, r.text);
    await p.waitForSelector('.banner-warn:has-text("deleted on the server")', { timeout: 15000 });
    await p.click('.editor-host .cm-content');
    await p.keyboard.press('ControlOrMeta+Enter');
    await p.waitForSelector('.toast:has-text("no longer on the server")');
    await p.keyboard.press('ControlOrMeta+s');
    await shot(p, 'b10-moved');
    // Ctrl+S and Run went by; the file list says what the server holds.
    const list = await pia.req('GET', `/api/workspaces/${ws}/files`);
    const paths = list.json.items.map((e) => e.path);
    assert.ok(paths.includes('greet.py') && !paths.includes('hello.py'), `hello.py stays moved: ${paths.join(', ')}`);
});

// B11: with the server unreachable, Run showed two contradictory messages ("the run uses the
// server's version" and "could not run"). Red on the old page: the save toast appeared.
test('B11: Run with the server unreachable says one thing', async () => {
    const p = await page({ api: pia });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="main.py"]');
    await p.waitForSelector('.tab.active[data-path="main.py"]');
    await p.context().setOffline(true);
    await p.click('.editor-host .cm-content');
    await p.keyboard.press('ControlOrMeta+End');
    await p.keyboard.type('# offline edit');
    await p.keyboard.press('ControlOrMeta+Enter');
    await p.waitForSelector('.run-output:has-text("cannot be reached")', { timeout: 20000 });
    assert.equal(await p.$('.toast:has-text("Not saved")'), null, 'no second, contradicting message');
    assert.ok(!(await p.textContent('.run-output')).includes('Could not run'));
    await shot(p, 'b11-offline');
    await p.context().setOffline(false);
    await waitSaved(p);
});

// B15: a new file went into the selected file's folder with no hint of it.
// Red on the old page: no hint under the name box.
test('B15: the new-file box says which folder it goes into, and "/" puts it at the top', async () => {
    await putFile('pkg/mod.py', 'x = 1\n');
    const p = await page({ api: pia });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="pkg"]');
    await p.click('.tree-row[data-path="pkg/mod.py"]');
    await p.waitForSelector('.tab.active[data-path="pkg/mod.py"]');
    await p.click('button[aria-label="New file"]');
    await p.waitForSelector('.tree-input');
    assert.match(await p.textContent('.tree-hint'), /in pkg\//);
    await p.fill('.tree-input', '/top.py');
    assert.match(await p.textContent('.tree-hint'), /top level/);
    await shot(p, 'b15-new-file');
    await p.press('.tree-input', 'Enter');
    await p.waitForSelector('.tab.active[data-path="top.py"]');
    assert.equal(await pia.file(ws, 'top.py'), '');
});
