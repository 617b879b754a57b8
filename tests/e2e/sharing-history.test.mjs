// (Sorted after page.test.mjs, which registers the first account: these users are ordinary.)
// Sharing and file history in the page (issue 17, the data half): the owner shares a
// workspace with a viewer through the members dialog; the viewer finds it in their list,
// reads it in a read-only editor and cannot restore; the owner opens the history of a file a
// run overwrote, sees the run's change as a diff and restores the earlier version, which the
// open editor then shows. Two browser contexts. Screenshots in build/screenshots/.
import assert from 'node:assert/strict';
import { Api, editorText, shot, suite, until } from './lib.mjs';

const owner = new Api();
const guest = new Api();
const stamp = Date.now().toString(36);
const guestName = `guest${stamp}`;
let ws = 0;
let op = null; // the owner's page
let gp = null; // the guest's page

const { test } = suite({
    closeEach: false,
    setup: async ({ page }) => {
        await owner.register(`owner${stamp}`);
        await guest.register(guestName);
        ws = (await owner.req('POST', '/api/workspaces', { name: 'team' })).json.id;
        await owner.req('PUT', `/api/workspaces/${ws}/files/data.txt`, 'original line\nsecond line\n');
        await owner.req('PUT', `/api/workspaces/${ws}/files/main.py`,
            "open('data.txt', 'w').write('overwritten by the run\\nsecond line\\n')\n");
        const run = await owner.req('POST', `/api/workspaces/${ws}/runs?wait=1`, {});
        assert.equal(run.status, 200, run.text);
        assert.equal(run.json.status, 'ok', run.text);
        op = await page({ api: owner, timeout: 15000 });
        gp = await page({ api: guest, timeout: 15000 });
    },
});

test('the owner shares the workspace with a viewer through the members dialog', async () => {
    await op.goto(`/w/${ws}`);
    await op.waitForSelector('.cm-content');
    await op.click('#share-workspace');
    const d = op.locator('dialog.members-dialog');
    await d.waitFor();
    await d.locator('input[name=username]').fill(guestName);
    await d.locator('select.member-role').first().selectOption('viewer');
    await d.locator('button[type=submit]').click();
    await op.waitForSelector(`.member[data-user="${guestName}"]`);
    assert.equal(await d.locator(`.member[data-user="${guestName}"] select`).inputValue(), 'viewer');
    // An unknown name is said plainly and changes nothing.
    await d.locator('input[name=username]').fill('nobody-here-x');
    await d.locator('button[type=submit]').click();
    await op.waitForSelector('dialog.members-dialog .form-error:not([hidden])');
    assert.match(await d.locator('.form-error').textContent(), /no user/i);
    await shot(op, 'members-dialog');
    await d.locator('.dialog-buttons button', { hasText: 'Close' }).click();
    const m = await owner.req('GET', `/api/workspaces/${ws}/members`);
    assert.deepEqual(m.json.items.map((x) => [x.user.username, x.role]), [[guestName, 'viewer']]);
});

test('the viewer finds the shared workspace and reads it without being able to edit', async () => {
    await gp.goto('/');
    const row = gp.locator(`tr[data-id="${ws}"]`);
    await row.waitFor();
    assert.match(await row.locator('.ws-shared').textContent(), /viewer/);
    assert.equal(await row.locator('.row-actions button').count(), 0); // no rename or delete
    await row.locator('a').click();
    await gp.waitForSelector('.cm-content');
    await gp.click('.tree-row[data-path="data.txt"]');
    await until(async () => (await editorText(gp)).startsWith('overwritten by the run'));
    await gp.click('.editor-host .cm-content');
    await gp.keyboard.type('typed by a viewer');
    assert.doesNotMatch(await editorText(gp), /typed by a viewer/);
    assert.equal(await gp.getAttribute('.editor-host .cm-content', 'contenteditable'), 'false');
    await shot(gp, 'viewer-read-only');
});

test('history shows the run overwriting a file; the owner restores the earlier version', async () => {
    await op.click('.tree-row[data-path="data.txt"]');
    await until(async () => (await editorText(op)).startsWith('overwritten by the run'));
    await op.click('#file-history');
    const d = op.locator('dialog.history-dialog');
    await d.waitFor();
    const rows = d.locator('.version');
    await until(async () => (await rows.count()) === 2);
    assert.deepEqual(await rows.evaluateAll((ls) => ls.map((l) => l.dataset.version)), ['2', '1']);
    assert.match(await rows.nth(0).textContent(), /run/);
    assert.match(await rows.nth(1).textContent(), /saved/);
    // The newest version is selected: its diff against version 1 shows the run's change.
    await d.locator('.d-del', { hasText: 'original line' }).waitFor();
    await d.locator('.d-add', { hasText: 'overwritten by the run' }).waitFor();
    assert.equal(await d.locator('#restore-version').isDisabled(), true); // already the file
    await shot(op, 'file-history-run');
    await rows.nth(1).locator('button').click();
    await until(async () => !(await d.locator('#restore-version').isDisabled()));
    await d.locator('#restore-version').click();
    await until(async () => (await rows.count()) === 3);
    assert.match(await rows.nth(0).textContent(), /restored/);
    assert.equal(await owner.file(ws, 'data.txt'), 'original line\nsecond line\n');
    await shot(op, 'file-history-restored');
    await d.locator('.dialog-buttons button', { hasText: 'Close' }).click();
    // The open editor follows the restore (the workspace's change events).
    await until(async () => (await editorText(op)).startsWith('original line'));
});

test('the viewer sees the history but may not restore', async () => {
    await until(async () => (await editorText(gp)).startsWith('original line'));
    await gp.click('#file-history');
    const d = gp.locator('dialog.history-dialog');
    await d.waitFor();
    await until(async () => (await d.locator('.version').count()) === 3);
    await d.locator('.version').nth(2).locator('button').click();
    await d.locator('.version.selected[data-version="1"]').waitFor();
    assert.equal(await d.locator('#restore-version').isDisabled(), true);
    await shot(gp, 'file-history-viewer');
    await d.locator('.dialog-buttons button', { hasText: 'Close' }).click();
});
