// What a person clicks and sees: register, workspaces, files, editing and autosave, runs,
// the terminal, conflicts, and the review workflow. Tests of APIs the server does not
// have yet (404) are skipped, not failed. Each test leaves a screenshot in build/screenshots/.
import assert from 'node:assert/strict';
import {
    Api, BASE, createWorkspaceUI, editorText, missing, registerUI, setEditorText, shot, suite, until, waitSaved,
} from './lib.mjs';

const PW = 'correct horse 1';
const admin = new Api();
const sam = new Api();
let samWs = 0;
// Pages stay open across tests (later tests reuse what earlier ones left); every test also
// fails on a JavaScript error in any page (uncaught exceptions and rejections) since the
// last check, not only the first test.
const { test, page, pages } = suite({ closeEach: false, checkErrors: true });

test('register: the first account is the admin and lands on an empty workspace list', async () => {
    const p = await page({ colorScheme: 'light' });
    await p.goto('/');
    await p.waitForURL(/\/login/);
    await p.click('text=Create an account');
    await p.waitForSelector('#username');
    // A too-short password is refused in the page with a readable message.
    await p.fill('#username', 'ada');
    await p.fill('#password', 'short');
    await p.click('form.auth-form button[type=submit]');
    await p.waitForSelector('.form-error:not([hidden])');
    assert.match(await p.textContent('.form-error'), /8 characters/);
    await shot(p, 'register-error');
    await registerUI(p, 'ada', PW);
    assert.match(await p.textContent('.topbar .user-name'), /ada/);
    assert.match(await p.textContent('.topbar .user-role'), /admin/i);
    assert.ok(await p.isVisible('text=No workspaces yet.'));
    await shot(p, 'register');
    await admin.login('ada', PW);
    assert.deepEqual(p.errors, []);
});

test('sign in: a wrong password says so; the right one works', async () => {
    await sam.register('sam', PW);
    const p = await page();
    await p.goto('/login');
    await p.fill('#username', 'sam');
    await p.fill('#password', 'wrong password');
    await p.click('form.auth-form button[type=submit]');
    await p.waitForSelector('.form-error:not([hidden])');
    assert.match(await p.textContent('.form-error'), /wrong username or password/i);
    await p.fill('#password', PW);
    await p.click('form.auth-form button[type=submit]');
    await p.waitForSelector('#new-workspace-name');
    await shot(p, 'login');
});

test('create a workspace: the IDE opens with main.py', async () => {
    const p = await page({ api: sam });
    samWs = await createWorkspaceUI(p, 'Exercise 1');
    await p.waitForSelector('.tree-row[data-path="main.py"]');
    await p.waitForSelector('.tab.active[data-path="main.py"]');
    assert.ok((await editorText(p)).length > 0, 'main.py has example code');
    const ws = await sam.req('GET', `/api/workspaces/${samWs}`);
    assert.equal(ws.json.name, 'Exercise 1');
    await shot(p, 'workspace-created');
    // The list shows it, and it can be renamed.
    await p.goto('/');
    await p.waitForSelector(`tr[data-id="${samWs}"]`);
    assert.match(await p.textContent(`tr[data-id="${samWs}"]`), /Exercise 1/);
    await shot(p, 'workspace-list');
});

test('create a file and type code: it is autosaved to the server', async () => {
    const p = await page({ api: sam });
    await p.goto(`/w/${samWs}`);
    await p.waitForSelector('.cm-content');
    await p.click('button[aria-label="New file"]');
    await p.fill('.tree-input', 'util/helpers.py');
    await p.press('.tree-input', 'Enter');
    await p.waitForSelector('.tree-row[data-path="util/helpers.py"]');
    await p.waitForSelector('.tab.active[data-path="util/helpers.py"]');
    // Type the way a person does: auto-indent and bracket closing included.
    await p.click('.editor-host .cm-content');
    await p.keyboard.type('def double(x):\nreturn x * 2');
    await waitSaved(p);
    const want = 'def double(x):\n    return x * 2';
    await until(async () => (await sam.file(samWs, 'util/helpers.py')) === want);
    assert.equal(await sam.file(samWs, 'util/helpers.py'), want);
    assert.equal(await p.getAttribute('.sb-save', 'data-state'), 'saved');
    await shot(p, 'file-created-typed');
});

test('autosave survives a reload; unsaved text is kept locally while the server is unreachable', async () => {
    const p = await page({ api: sam });
    await p.goto(`/w/${samWs}`);
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, 'print("saved before reload")\n');
    await waitSaved(p);
    await p.reload();
    await p.waitForSelector('.cm-content');
    assert.equal((await editorText(p)).trim(), 'print("saved before reload")');

    // Saves fail now: the page says so and keeps the text in a local draft.
    await p.route('**/api/workspaces/*/files/**', (route) => (route.request().method() === 'PUT' ? route.abort('connectionrefused') : route.continue()));
    await setEditorText(p, 'print("typed while offline")\n');
    await p.waitForSelector('.sb-save[data-state=offline]');
    await shot(p, 'autosave-offline');
    await p.reload();
    await p.waitForSelector('.cm-content');
    await until(async () => (await editorText(p)).includes('typed while offline'), 5000);
    assert.equal((await editorText(p)).trim(), 'print("typed while offline")', 'the draft is restored after a reload');
    // The server comes back: the draft is saved.
    await p.unroute('**/api/workspaces/*/files/**');
    await p.reload();
    await p.waitForSelector('.cm-content');
    await waitSaved(p);
    assert.equal(await until(async () => ((await sam.file(samWs, 'main.py')) ?? '').includes('typed while offline') && sam.file(samWs, 'main.py')), 'print("typed while offline")\n');
    await shot(p, 'autosave-reload');
});

test('a conflict between two tabs is shown, and the user chooses', async () => {
    const a = await page({ api: sam });
    await a.goto(`/w/${samWs}`);
    await a.click('.tree-row[data-path="main.py"]');
    await a.waitForSelector('.cm-content');
    const b = await a.context().newPage();
    // Tab B does not hear about A's save (no event stream), as when it was offline a while.
    // (a predicate, not a glob: the page opens its stream with ?client=, which a glob on
    // the path alone would not match)
    await b.route((url) => /\/api\/workspaces\/\d+\/events$/.test(url.pathname), (r) => r.abort());
    // ...and does not co-edit (two co-editing tabs merge instead: together.test.mjs).
    await b.route('**/api/workspaces/*/docs/**', (r) => r.abort());
    await b.goto(`/w/${samWs}`);
    await b.click('.tree-row[data-path="main.py"]');
    await b.waitForSelector('.cm-content');
    // Tab A saves first; tab B (still on the old version) saves after.
    await setEditorText(a, 'print("from tab A")\n');
    await waitSaved(a);
    await setEditorText(b, 'print("from tab B")\n');
    await b.waitForSelector('.conflict', { timeout: 10000 });
    assert.match(await b.textContent('.conflict'), /from tab A/);
    assert.match(await b.textContent('.conflict'), /from tab B/);
    assert.equal(await b.getAttribute('.sb-save', 'data-state'), 'conflict');
    assert.equal(await sam.file(samWs, 'main.py'), 'print("from tab A")\n', 'nothing overwritten yet');
    await shot(b, 'conflict');
    await b.click('#conflict-mine');
    await waitSaved(b);
    assert.equal(await sam.file(samWs, 'main.py'), 'print("from tab B")\n');
    await b.close();
});

test('file tree: new folder, move a file into it, delete with confirmation', async () => {
    const p = await page({ api: sam });
    await p.goto(`/w/${samWs}`);
    await p.waitForSelector('.cm-content');
    await p.click('button[aria-label="New folder"]');
    await p.fill('.tree-input', 'data');
    await p.press('.tree-input', 'Enter');
    await p.waitForSelector('.tree-row[data-path="data"][data-kind="folder"]');
    // Rename/move through the context menu (a path with a folder moves it).
    await p.click('.tree-row[data-path="util"]');
    await p.click('.tree-row[data-path="util/helpers.py"]', { button: 'right' });
    await p.click('.menu-item:has-text("Rename")');
    await p.fill('dialog input', 'data/helpers.py');
    await p.press('dialog input', 'Enter');
    await p.waitForSelector('.tree-row[data-path="data/helpers.py"]');
    assert.equal(await sam.file(samWs, 'data/helpers.py'), 'def double(x):\n    return x * 2');
    assert.equal(await sam.file(samWs, 'util/helpers.py'), null);
    await shot(p, 'tree-moved');
    // Delete asks first.
    await p.click('.tree-row[data-path="data/helpers.py"]', { button: 'right' });
    await p.click('.menu-item:has-text("Delete")');
    await p.waitForSelector('dialog:has-text("Delete file?")');
    await shot(p, 'tree-delete-confirm');
    await p.click('dialog button.btn-danger');
    await p.waitForSelector('.tree-row[data-path="data/helpers.py"]', { state: 'detached' });
    assert.equal(await sam.file(samWs, 'data/helpers.py'), null);
});

test('upload: a file picked from the computer lands in the workspace', async () => {
    const p = await page({ api: sam });
    await p.goto(`/w/${samWs}`);
    await p.waitForSelector('.cm-content');
    await p.setInputFiles('.tree-wrap input[type=file]', { name: 'data.csv', mimeType: 'text/csv', buffer: Buffer.from('x,y\n1,2\n') });
    await p.waitForSelector('.tree-row[data-path="data.csv"]');
    assert.equal(await sam.file(samWs, 'data.csv'), 'x,y\n1,2\n');
    await shot(p, 'upload');
});

test('an expired session keeps unsaved text until the user signs in again', async () => {
    // The earlier tests' tabs stay open on main.py, as a user's would: the file is co-edited.
    const p = await page({ api: sam });
    await p.goto(`/w/${samWs}`);
    await p.click('.tree-row[data-path="main.py"]');
    await p.waitForSelector('.cm-content');
    // The session ends on the server: its next save is answered 401.
    const files = '**/api/workspaces/*/files/**';
    await p.route(files, (r) => (r.request().method() === 'PUT'
        ? r.fulfill({ status: 401, contentType: 'application/json', body: '{"error":{"code":"unauthenticated","message":"session expired"}}' })
        : r.continue()));
    await setEditorText(p, 'print("typed after the session ended")\n');
    await p.waitForURL(/\/login\?next=/, { timeout: 10000 });
    await p.unroute(files);
    await p.context().clearCookies();
    await shot(p, 'session-expired-login');
    await p.fill('#username', 'sam');
    await p.fill('#password', PW);
    await p.click('form.auth-form button[type=submit]');
    await p.waitForURL(new RegExp(`/w/${samWs}$`));
    await p.waitForSelector('.cm-content');
    await until(async () => (await editorText(p)).includes('typed after the session ended'), 5000);
    await waitSaved(p);
    assert.equal(await until(async () => ((await sam.file(samWs, 'main.py')) ?? '').includes('session ended') && sam.file(samWs, 'main.py')), 'print("typed after the session ended")\n');
    await shot(p, 'session-restored');
});

async function runsMissing(t) {
    if (await missing(sam, `/api/workspaces/${samWs}/runs`)) {
        t.skip('runs API not on this server yet');
        return true;
    }
    return false;
}

test('run: output streams in, then the exit status and figures', async (t) => {
    if (await runsMissing(t)) return;
    const p = await page({ api: sam });
    await p.goto(`/w/${samWs}`);
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, 'import sys\nfor i in range(3):\n    print("line", i)\nprint("to stderr", file=sys.stderr)\nsys.exit(3)\n');
    await waitSaved(p);
    await p.keyboard.press('ControlOrMeta+Enter');
    await p.waitForSelector('.run-status[data-status=error]', { timeout: 30000 });
    const out = await p.textContent('.run-output');
    assert.match(out, /line 0\nline 1\nline 2/);
    assert.match(await p.textContent('.run-output .out-stderr'), /to stderr/);
    assert.match(await p.textContent('.run-status'), /Exit 3/);
    assert.match(await p.textContent('.run-status'), /wall/);
    await shot(p, 'run-output');
});

test('run with stdin', async (t) => {
    if (await runsMissing(t)) return;
    const p = await page({ api: sam });
    await p.goto(`/w/${samWs}`);
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, 'import sys\nname = input()\nprint(f"Hello, {name}!")\nprint("args:", sys.argv[1:])\n');
    await waitSaved(p);
    if (!(await p.isVisible('#stdin'))) await p.click('.stdin-wrap summary');
    await p.fill('#stdin', 'Grace\n');
    await p.fill('#run-args', '--greeting "good morning"');
    await p.click('#run');
    await p.waitForSelector('.run-status[data-status=ok]', { timeout: 30000 });
    assert.match(await p.textContent('.run-output'), /Hello, Grace!/);
    assert.match(await p.textContent('.run-output'), /args: \['--greeting', 'good morning'\]/);
    await p.fill('#run-args', '');
    await shot(p, 'run-stdin');
});

test('a running program can be stopped, and a line typed for it is its stdin', async (t) => {
    if (await runsMissing(t)) return;
    const p = await page({ api: sam });
    await p.goto(`/w/${samWs}`);
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, 'import time\nprint("started", flush=True)\nline = input()\nprint("got", line, flush=True)\ntime.sleep(60)\n');
    await waitSaved(p);
    if (await p.isVisible('#stdin')) await p.fill('#stdin', '');
    await p.click('#run');
    await until(async () => (await p.textContent('.run-output')).includes('started'), 20000);
    await p.fill('.live-input', 'typed live');
    await p.press('.live-input', 'Enter');
    await until(async () => (await p.textContent('.run-output')).includes('got typed live'), 10000);
    assert.match(await p.textContent('#run'), /Stop/);
    await shot(p, 'run-live');
    await p.click('#run');
    await p.waitForSelector('.run-status[data-status=cancelled]', { timeout: 15000 });
    assert.match(await p.textContent('.run-status'), /Stopped/);
    assert.match(await p.textContent('#run'), /Run/);
    await shot(p, 'run-stopped');
});

test('a matplotlib plot appears as an image', async (t) => {
    if (await runsMissing(t)) return;
    const p = await page({ api: sam });
    await p.goto(`/w/${samWs}`);
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, 'import matplotlib.pyplot as plt\nplt.plot([1, 4, 9, 16])\nplt.title("squares")\nplt.show()\n');
    await waitSaved(p);
    await p.click('#run');
    await p.waitForSelector('.run-status[data-status=ok]', { timeout: 60000 });
    await p.waitForSelector('.run-figure img');
    const w = await until(() => p.$eval('.run-figure img', (img) => img.complete && img.naturalWidth), 10000);
    assert.ok(w > 100, 'the figure image loaded');
    await shot(p, 'run-plot');
    // A file the program wrote is saved back, appears in the tree and opens as a preview.
    await setEditorText(p, 'import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nplt.savefig("chart.png")\n');
    await waitSaved(p);
    await p.click('#run');
    await p.waitForSelector('.tree-row[data-path="chart.png"]', { timeout: 30000 });
    await p.click('.tree-row[data-path="chart.png"]');
    await p.waitForSelector('.preview-img');
    assert.ok(await until(() => p.$eval('.preview-img', (img) => img.complete && img.naturalWidth > 100), 10000), 'the saved image shows');
    await shot(p, 'image-preview');
    await p.click('.tab[data-path="chart.png"] .tab-close');
    // And it is in the run history.
    await p.click('.ptab:has-text("History")');
    await p.waitForSelector('.history-row');
    await shot(p, 'run-history');
});

test('terminal: echo works and a file made there appears in the tree', async (t) => {
    if (await missing(sam, `/api/workspaces/${samWs}/terminal?name=1`)) {
        t.skip('terminal API not on this server yet');
        return;
    }
    const p = await page({ api: sam });
    await p.goto(`/w/${samWs}`);
    await p.waitForSelector('.cm-content');
    if (!(await p.isVisible('.term-panel'))) await p.click('#toggle-terminal');
    await p.waitForSelector('.term-state[data-state=open]', { timeout: 20000 });
    await p.click('.term-host .xterm');
    await p.keyboard.type('echo hi-$((6*7))\n');
    await until(async () => (await p.textContent('.term-host .xterm-rows')).includes('hi-42'), 10000);
    assert.match(await p.textContent('.term-host .xterm-rows'), /hi-42/);
    await p.keyboard.type('echo made in terminal > from_term.txt\n');
    await p.waitForSelector('.tree-row[data-path="from_term.txt"]', { timeout: 10000 });
    // An open, saved file changed in the terminal is reloaded in the editor.
    await p.click('.tree-row[data-path="main.py"]');
    await waitSaved(p);
    await p.click('.term-host .xterm');
    await p.keyboard.type('echo \'print("rewritten in the terminal")\' > main.py\n');
    await until(async () => (await editorText(p)).includes('rewritten in the terminal'), 10000);
    assert.equal((await editorText(p)).trim(), 'print("rewritten in the terminal")');
    await shot(p, 'terminal');
});

test('terminal: a reload finds the same shell, and editor saves are visible there at once', async (t) => {
    if (await missing(sam, `/api/workspaces/${samWs}/terminal?name=1`)) {
        t.skip('terminal API not on this server yet');
        return;
    }
    const p = await page({ api: sam });
    await p.goto(`/w/${samWs}`);
    await p.waitForSelector('.cm-content');
    if (!(await p.isVisible('.term-panel'))) await p.click('#toggle-terminal');
    await p.waitForSelector('.term-state[data-state=open]', { timeout: 20000 });
    await p.click('.term-host .xterm');
    await p.keyboard.type('KEPT=still-here-$((40+2))\n');
    await p.reload();
    await p.waitForSelector('.term-state[data-state=open]', { timeout: 20000 });
    await p.click('.term-host .xterm');
    await p.keyboard.type('clear; echo "$KEPT"\n');
    await until(async () => (await p.textContent('.term-host .xterm-rows')).includes('still-here-42'), 10000);
    assert.match(await p.textContent('.term-host .xterm-rows'), /still-here-42/);
    // Saved in the editor → there in the shell.
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, 'print("saved from the editor")\n');
    await waitSaved(p);
    await p.click('.term-host .xterm');
    await p.keyboard.type('clear; cat main.py\n');
    await until(async () => (await p.textContent('.term-host .xterm-rows')).includes('print("saved from the editor")'), 10000);
    assert.match(await p.textContent('.term-host .xterm-rows'), /saved from the editor/);
    await shot(p, 'terminal-reload');
});

test('submit for review; a reviewer approves with a comment; the submitter sees it', async (t) => {
    if (await missing(sam, '/api/submissions')) {
        t.skip('submissions API not on this server yet');
        return;
    }
    // The admin makes rita a reviewer on the admin page.
    const rita = new Api();
    const ritaUser = await rita.register('rita', PW);
    const ap = await page({ api: admin });
    await ap.goto('/admin');
    await ap.waitForSelector('select[aria-label="Role of rita"]');
    await ap.selectOption('select[aria-label="Role of rita"]', 'reviewer');
    await until(async () => (await admin.req('GET', '/api/admin/users')).json.items.find((u) => u.id === ritaUser.id)?.role === 'reviewer');
    await shot(ap, 'admin-users');

    // Sam submits from the IDE.
    const p = await page({ api: sam });
    await p.goto(`/w/${samWs}`);
    await p.waitForSelector('.cm-content');
    await p.click('#submit-review');
    await p.fill('#submit-message', 'Please check my greeting.');
    await p.click('dialog button:has-text("Submit")');
    await p.waitForURL(/\/submissions\/\d+$/);
    const subId = Number(/\/submissions\/(\d+)/.exec(p.url())[1]);
    await p.waitForSelector('.sub-head .badge-pending');
    await shot(p, 'submitted');

    // Rita reviews: dashboard, snapshot, a line comment, approve with a comment.
    const r = await page({ api: rita });
    await r.goto('/review');
    await r.waitForSelector(`tr[data-id="${subId}"]`);
    assert.match(await r.textContent('.count[data-status=pending]'), /^[1-9]/);
    await shot(r, 'review-dashboard');
    await r.click(`tr[data-id="${subId}"] a`);
    await r.waitForSelector('.snap-code .cm-content');
    await r.click('.snap-code .cm-lineNumbers .cm-gutterElement >> text="1"');
    await r.fill('#comment-body', 'Nice first line.');
    await r.click('#post-comment');
    await r.waitForSelector('.cm-line-note');
    await r.fill('#review-comment', 'Looks good to me.');
    await r.click('#approve');
    await r.waitForSelector('#verdict');
    await shot(r, 'review-approved');

    // Sam sees the verdict in the list and on the submission.
    await p.goto('/submissions');
    await p.waitForSelector(`tr[data-id="${subId}"] .badge-approved`);
    await p.click(`tr[data-id="${subId}"] a`);
    await p.waitForSelector('#verdict');
    assert.match(await p.textContent('#verdict'), /Approved by rita/);
    assert.match(await p.textContent('#verdict'), /Looks good to me\./);
    await shot(p, 'submitter-sees-verdict');

    // A resubmission shows what changed since the previous one.
    const put = await sam.req('PUT', `/api/workspaces/${samWs}/files/main.py`, 'print("second version")\n', { 'Content-Type': 'application/octet-stream' });
    assert.ok(put.status === 200 || put.status === 201, put.text);
    const again = await sam.req('POST', `/api/workspaces/${samWs}/submissions`, { message: 'Second try' });
    assert.equal(again.status, 201, again.text);
    if (again.json.previous_id) {
        await p.goto(`/submissions/${again.json.id}`);
        await p.click('#show-diff');
        await p.waitForSelector('.diff-file');
        assert.match(await p.textContent('.diff-view'), /second version/);
        await shot(p, 'resubmission-diff');
    }
});

test('account: an API token is shown once and works for scripts; admins see the node', async () => {
    const p = await page({ api: sam });
    await p.goto('/');
    await p.click('.topbar .user-name');
    await p.waitForURL(/\/account$/);
    await p.fill('#token-name', 'ci script');
    await p.click('form.inline-form button[type=submit]');
    await p.waitForSelector('.token-value');
    const token = await p.inputValue('.token-value');
    assert.ok(token.length >= 16, 'a token is shown');
    await p.waitForSelector('td:has-text("ci script")');
    await shot(p, 'account-token');
    const me = await fetch(`${BASE}/api/auth/me`, { headers: { Authorization: `Bearer ${token}` } });
    assert.equal(me.status, 200);
    assert.equal((await me.json()).user.username, 'sam');

    const a = await page({ api: admin });
    await a.goto('/admin?tab=node');
    await a.waitForSelector('.stat-card');
    assert.match(await a.textContent('.stat-grid'), /running/);
    await shot(a, 'admin-node');
});

test('no external requests, no Content-Security-Policy violations, hashed assets cached', async () => {
    const p = await page({ api: sam });
    const requests = [];
    const problems = [];
    p.on('request', (r) => requests.push(r.url()));
    p.on('console', (m) => {
        if (/Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
    });
    await p.goto(`/w/${samWs}`);
    await p.waitForSelector('.cm-content');
    if (!(await p.isVisible('.term-panel'))) await p.click('#toggle-terminal');
    await p.waitForSelector('.term-host .xterm');
    await p.goto('/review');
    await p.goto('/');
    await p.waitForSelector('#new-workspace-name');
    const origin = new URL(BASE).origin;
    const external = requests.filter((u) => !u.startsWith(origin) && !u.startsWith('data:') && !u.startsWith('blob:') && !u.startsWith(origin.replace('http', 'ws')));
    assert.deepEqual(external, []);
    assert.deepEqual(problems, []);
    // index.html names content-hashed assets, which the server lets browsers keep.
    const html = await (await fetch(BASE + '/')).text();
    const asset = /src="\/(main-[A-Z0-9]{8}\.js)"/.exec(html);
    assert.ok(asset, 'index.html references a hashed main bundle');
    const r = await fetch(`${BASE}/${asset[1]}`);
    assert.equal(r.status, 200);
    assert.match(r.headers.get('cache-control') ?? '', /max-age=\d{6,}|immutable/);
});

test('errors are readable: a missing workspace shows a message, not a blank page', async () => {
    const p = await page({ api: sam, colorScheme: 'light' });
    await p.goto('/w/999999');
    await p.waitForSelector('.error-block');
    assert.match(await p.textContent('.error-block'), /does not exist|not found/i);
    await shot(p, 'error-missing-workspace');
    assert.ok(BASE);
});
