// The page's third pass (issue 19's leftovers): each test reproduces what a user hit and
// checks what the page does now. Its own users and workspace.
import assert from 'node:assert/strict';
import { Api, createWorkspaceUI, setEditorText, shot, suite, until, waitSaved } from './lib.mjs';

const PW = 'correct horse 1';
const quinn = new Api();
let ws = 0;
const { test, page } = suite({
    setup: async ({ page }) => {
        await quinn.register('quinn', PW);
        const p = await page({ api: quinn });
        ws = await createWorkspaceUI(p, 'Third pass');
        await p.context().close();
    },
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

async function adminApi() {
    const a = new Api();
    await a.login('ada', PW).catch(async () => a.login('quinn', PW));
    return a;
}

// There was no way to change one's password in the page. Red on the old page: no form.
test('password: a user changes their own password on the account page', async () => {
    const rex = new Api();
    await rex.register('rex', PW);
    const p = await page({ api: rex });
    await p.goto('/account');
    await p.fill('#pw-current', 'not the password');
    await p.fill('#pw-new', 'brand new secret 9');
    await p.fill('#pw-again', 'brand new secret 9');
    await p.click('#password button[type=submit]');
    await p.waitForSelector('#password .form-error');
    assert.match(await p.textContent('#password .form-error'), /current password is not right/);
    await p.fill('#pw-current', PW);
    await p.fill('#pw-again', 'brand new secret 8');
    await p.click('#password button[type=submit]');
    assert.match(await p.textContent('#password .form-error'), /differ/);
    await p.fill('#pw-again', 'brand new secret 9');
    await p.click('#password button[type=submit]');
    await p.waitForSelector('#password .banner-ok');
    await shot(p, 'password-changed');
    // The page goes on with its new session (a write needs the new CSRF token).
    await p.goto('/');
    await p.fill('#new-workspace-name', 'after the change');
    await p.click('.inline-form button[type=submit]');
    await p.waitForSelector('.cm-content');
    // The old session of the API client is gone; the new password signs in.
    assert.equal((await rex.req('GET', '/api/auth/me')).status, 401);
    await assert.rejects(new Api().login('rex', PW));
    await new Api().login('rex', 'brand new secret 9');
});

// An administrator could neither reset a password nor make an account in the page.
// Red on the old page: no New account form, no Reset password button.
test('password: an admin makes an account and resets a password; the temporary one signs in', async () => {
    const a = await adminApi();
    const p = await page({ api: a });
    await p.goto('/admin');
    await p.fill('#new-user-name', 'tess');
    await p.selectOption('.new-user select', 'reviewer');
    await p.click('.new-user button[type=submit]');
    await p.waitForSelector('dialog .temp-password');
    const first = await p.inputValue('dialog .token-value');
    assert.match(first, /^[A-Za-z2-9]{4}(-[A-Za-z2-9]{4}){3}$/);
    await shot(p, 'admin-new-account');
    await p.click('dialog button:has-text("Done")');
    const sam = new Api();
    assert.equal((await sam.login('tess', first)).role, 'reviewer');
    await p.click('tr[data-user="tess"] button:has-text("Reset password")');
    await p.click('dialog button:has-text("Reset password")');
    await p.waitForSelector('dialog .temp-password');
    const second = await p.inputValue('dialog .token-value');
    assert.notEqual(second, first);
    await p.click('dialog button:has-text("Done")');
    assert.equal((await sam.req('GET', '/api/auth/me')).status, 401, 'signed out by the reset');
    await assert.rejects(new Api().login('tess', first));
    await new Api().login('tess', second);
});

// `pip install` printed Debian's PEP 668 refusal (apt, venv, pipx: none of which applies
// here). Red on the old page: no word of what to do instead.
test('pip: a refused pip install is followed by a plain word on what is possible here', async () => {
    const p = await page({ api: quinn });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, 'import subprocess, sys\nsubprocess.run([sys.executable, "-m", "pip", "install", "requests"])\n');
    await waitSaved(p);
    await p.click('#run');
    await p.waitForSelector('.run-status[data-status=ok]', { timeout: 30000 });
    const out = await p.textContent('.run-output');
    assert.match(out, /externally-managed-environment/);
    assert.match(out, /Installing packages is not possible here/);
    assert.match(out, /pip list/);
    await shot(p, 'pip-refused');
});

// B5's server half: time waiting for input counted toward the wall limit, so a person who
// took longer than 10 s to answer input() saw "Wall time limit reached". Now waiting does
// not count (up to --run-idle-ms in all) and the input line says so. Red on the old server
// and page: the hint said waiting counts, and the run ended at the wall limit.
test('B5: a program waits for input longer than the wall limit, gets it, and finishes', async () => {
    const p = await page({ api: quinn });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, 'name = input("Your name? ")\nprint("hi", name)\n');
    await waitSaved(p);
    if (await p.isVisible('#stdin')) await p.fill('#stdin', '');
    await p.click('#run');
    await p.waitForSelector('.live-input-wrap:not([hidden]) .live-hint');
    const { wall_ms: wallMs, idle_ms: idleMs } = (await pageLimits()).run;
    const fmt = (ms) => (ms < 60000 ? `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s` : `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`); // dom.ts fmtMs
    assert.equal(await p.textContent('.live-hint'), `Waiting for input does not count toward the ${fmt(wallMs)} limit; a run may wait ${fmt(idleMs)} in all.`);
    await shot(p, 'b5-waiting-for-input');
    // Longer than the wall limit goes by while the program waits; it is still running.
    const end = Date.now() + wallMs + 2000;
    while (Date.now() < end) {
        assert.ok(await p.isVisible('.live-input-wrap:not([hidden])'), 'still waiting for input');
        await p.waitForTimeout(250);
    }
    await p.fill('.live-input', 'Ada');
    await p.press('.live-input', 'Enter');
    await p.waitForSelector('.run-status[data-status=ok]', { timeout: 30000 });
    assert.match(await p.textContent('.run-output'), /hi Ada/);
});

async function pageLimits() {
    return (await quinn.req('GET', '/api/limits')).json;
}

const overlap = (a, b) => a && b && a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;

// B14's rest: the save toast covered the run's figures; a workspace of one file was "its 1
// files". Red on the old page: the toast's box lay over the run status line, and the dialog
// said "its 1 files".
test('B14: the save toast leaves the run figures visible; one file is "its one file"', async () => {
    const p = await page({ api: quinn });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="main.py"]');
    await setEditorText(p, 'print("figures stay visible")\n');
    await waitSaved(p);
    await p.click('#run');
    await p.waitForSelector('.run-status[data-status=ok] .run-fig');
    await p.click('.editor-host .cm-content');
    await p.keyboard.press('ControlOrMeta+s');
    await p.waitForSelector('.toast:has-text("All changes saved")');
    const toastBox = await (await p.$('.toast')).boundingBox();
    const statusBox = await (await p.$('.run-status')).boundingBox();
    assert.ok(!overlap(toastBox, statusBox), `toast ${JSON.stringify(toastBox)} over run status ${JSON.stringify(statusBox)}`);
    await shot(p, 'b14-toast');

    const one = (await quinn.req('POST', '/api/workspaces', { name: 'just one' })).json;
    const q = await page({ api: quinn });
    await q.goto('/');
    await q.click(`tr:has-text("just one") button:has-text("Delete")`);
    await q.waitForSelector('dialog');
    const text = await q.textContent('dialog');
    assert.ok(!/its 1 files/.test(text), text);
    assert.match(text, /"just one" and its one file will be deleted for good\./);
    await q.click('dialog button:has-text("Cancel")');
    assert.ok(one.id);
});

// Screens of what this pass changed, light and dark, desktop and phone, with the find panel
// open and a long verdict; nothing may overflow the viewport.
test('screens: account, admin users and the IDE with find open fit at 1440x900 and 390x844, light and dark', async () => {
    const a = await adminApi();
    for (const scheme of ['light', 'dark']) {
        for (const [w, hgt] of [[1440, 900], [390, 844]]) {
            const tag = `${w}-${scheme}`;
            const p = await page({ api: quinn, colorScheme: scheme });
            await p.setViewportSize({ width: w, height: hgt });
            await p.goto('/account');
            await p.waitForSelector('#pw-current');
            assert.ok((await p.evaluate(() => document.documentElement.scrollWidth - innerWidth)) <= 0, `account fits at ${tag}`);
            await shot(p, `p3-account-${tag}`);
            await p.goto(`/w/${ws}`);
            await p.waitForSelector('.cm-content');
            await p.click(w > 700 ? '.tree-row[data-path="main.py"]' : '.tab[data-path="main.py"]');
            const code = 'import time\nfor i in range(3):\n    print("tick", i)\nraise SystemExit(3)\n';
            await setEditorText(p, code);
            await until(async () => (await quinn.file(ws, 'main.py')) === code); // the phone has no status bar
            await p.click('#run');
            await p.waitForSelector('.run-status[data-status=error]', { timeout: 20000 });
            if (w <= 700) await p.click('.view-btn[data-view=code]');
            await p.click('.editor-host .cm-content');
            await p.keyboard.press('ControlOrMeta+f');
            await p.waitForSelector('.cm-search');
            await p.keyboard.type('tick');
            assert.ok((await p.evaluate(() => document.documentElement.scrollWidth - innerWidth)) <= 0, `IDE fits at ${tag}`);
            await shot(p, `p3-ide-find-${tag}`);
            if (w <= 700) {
                await p.click('.view-btn[data-view=output]');
                await shot(p, `p3-ide-output-${tag}`);
            }
            await p.context().close();
            const q = await page({ api: a, colorScheme: scheme });
            await q.setViewportSize({ width: w, height: hgt });
            await q.goto('/admin');
            await q.waitForSelector('#new-user-name');
            assert.ok((await q.evaluate(() => document.documentElement.scrollWidth - innerWidth)) <= 0, `admin fits at ${tag}`);
            await shot(q, `p3-admin-${tag}`);
            await q.context().close();
        }
    }
});

// There was no search across files. Red on the old page: Ctrl+Shift+F did nothing.
test('search: Ctrl+Shift+F finds text in all files and opens the file at the line', async () => {
    const put = async (path, body) => {
        const r = await quinn.req('PUT', `/api/workspaces/${ws}/files/${path}`, body, { 'Content-Type': 'application/octet-stream' });
        assert.ok(r.status === 200 || r.status === 201, `${path}: ${r.status}`);
    };
    await put('lib/shapes.py', 'class Circle:\n    pass\n\n\ndef area_of_circle(r):\n    return 3.14 * r * r\n');
    await put('notes.txt', 'remember: AREA_OF_CIRCLE is in lib\n');
    const p = await page({ api: quinn });
    await p.goto(`/w/${ws}`);
    await p.waitForSelector('.cm-content');
    await p.keyboard.press('ControlOrMeta+Shift+f');
    await p.waitForSelector('.search-panel:not([hidden]) .search-input:focus');
    await p.keyboard.type('area_of_circle');
    // Each typed letter may ask the server: wait for the answer to the whole word.
    await p.waitForFunction(() => document.querySelector('.search-hit[data-path="lib/shapes.py"][data-line="5"] mark')?.textContent === 'area_of_circle');
    assert.match(await p.textContent('.search-summary'), /^2 lines in 2 files/);
    assert.equal(await p.$('.cm-search'), null, "the editor's own find panel stays closed");
    await shot(p, 'search-results');
    await p.click('.search-case');
    await p.waitForFunction(() => document.querySelector('.search-summary')?.textContent.startsWith('1 line in 1 file'));
    await p.click('.search-hit[data-path="lib/shapes.py"]');
    await p.waitForSelector('.tab.active[data-path="lib/shapes.py"]');
    await until(async () => (await p.textContent('.statusbar')).includes('Ln 5,'));
});

// A file could not be downloaded from the tree (only binary previews had a link).
// Red on the old page: no Download in the tree's menu.
test('download: a file downloads from the tree menu, byte for byte', async () => {
    const body = 'a,b\r\n1,2\r\n';
    const r = await quinn.req('PUT', `/api/workspaces/${ws}/files/table.csv`, body, { 'Content-Type': 'application/octet-stream' });
    assert.ok(r.status === 200 || r.status === 201);
    const p = await page({ api: quinn });
    await p.goto(`/w/${ws}`);
    await p.click('.tree-row[data-path="table.csv"]', { button: 'right' });
    const [dl] = await Promise.all([p.waitForEvent('download'), p.click('.menu .menu-item:has-text("Download")')]);
    assert.equal(dl.suggestedFilename(), 'table.csv');
    const { readFileSync } = await import('node:fs');
    assert.equal(readFileSync(await dl.path(), 'latin1'), body);
});
