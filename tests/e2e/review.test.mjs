// The review loop (issue 19): a reviewer re-runs a file of a submission that is not main.py,
// with stdin and an expected output, and sees pass or fail; a resubmission opens on the diff
// with the earlier comment carried to the line it is on now; the student's bell shows an
// unread decision and clears when the submission is opened; a comment reaches the bell at
// once over the user's own event stream, without a reload or the poll.
import assert from 'node:assert/strict';
import { Api, shot, suite, until } from './lib.mjs';

const PW = 'correct horse 1';
const admin = new Api();
const stu = new Api();
const rev = new Api();
let stuUser = null;

async function ok(r, status = [200, 201]) {
    if (!status.includes(r.status)) throw new Error(`${r.status} ${r.text}`);
    return r.json;
}

async function workspace(api, name, files) {
    const w = await ok(await api.req('POST', '/api/workspaces', { name }));
    for (const [path, text] of Object.entries(files)) await ok(await api.req('PUT', `/api/workspaces/${w.id}/files/${path}`, text));
    return w.id;
}

const submit = async (ws, message) => ok(await stu.req('POST', `/api/workspaces/${ws}/submissions`, { message }));

const { test, page } = suite({
    setup: async () => {
        // The admin of the e2e server is ada (page.test.mjs); alone, this file makes her first.
        try {
            await admin.login('ada', PW);
        } catch {
            await admin.register('ada', PW);
        }
        stuUser = await stu.register('stella', PW);
        const r = await rev.register('rosa', PW);
        await ok(await admin.req('PATCH', `/api/admin/users/${r.id}`, { role: 'reviewer' }));
        await rev.login('rosa', PW); // a role change ends sessions
    },
});

test('a reviewer re-runs a non-main file with stdin and an expected output and sees pass, then fail', async () => {
    const ws = await workspace(stu, 'Greeter', {
        'main.py': "print('the main program')\n",
        'tools/greet.py': "name = input()\nprint(f'Hello, {name}!')   \n",
    });
    const s = await submit(ws, 'greeter done');
    const p = await page({ api: rev });
    await p.goto(`/submissions/${s.id}`);
    await p.waitForSelector('#rerun-file');
    assert.equal(await p.$eval('#rerun-file', (el) => el.value), 'main.py', 'the entry is the default');
    assert.match(await p.textContent('#entry-file'), /main\.py/);
    await p.selectOption('#rerun-file', 'tools/greet.py');
    await p.fill('#rerun-stdin', 'Ada\n');
    await p.fill('#rerun-expected', 'Hello, Ada!\n');
    await p.click('#rerun');
    await p.waitForSelector('#check-verdict[data-pass="true"]', { timeout: 60000 });
    assert.match(await p.textContent('#check-verdict'), /Pass/);
    assert.match(await p.textContent('.run-view'), /Hello, Ada!/);
    await shot(p, 'review-rerun-pass');

    await p.fill('#rerun-expected', 'Hello, Bob!\n');
    await p.click('#rerun');
    await p.waitForSelector('#check-verdict[data-pass="false"]', { timeout: 60000 });
    const text = await p.textContent('#check-verdict');
    assert.match(text, /Fail/);
    assert.match(text, /Line 1/);
    assert.match(text, /Hello, Bob!/);
    await shot(p, 'review-rerun-fail');
    // On a phone the form stays inside the screen.
    await p.setViewportSize({ width: 390, height: 844 });
    await p.locator('#rerun').scrollIntoViewIfNeeded();
    const box = await p.locator('.rerun-form').boundingBox();
    assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `the re-run form fits: ${JSON.stringify(box)}`);
    await shot(p, 'review-rerun-phone');
    assert.deepEqual(p.errors, []);
});

test('a resubmission opens on the diff with the earlier comment on the line it moved to', async () => {
    const ws = await workspace(stu, 'Sums', { 'main.py': 'a = 1\nb = 2\nprint(a + b)\n' });
    const s1 = await submit(ws, 'first');
    await ok(await rev.req('POST', `/api/submissions/${s1.id}/comments`, { body: 'Call b something clearer.', path: 'main.py', line: 2 }));
    await ok(await rev.req('POST', `/api/submissions/${s1.id}/review`, { decision: 'reject', comment: 'Names, please.' }));
    await ok(await stu.req('PUT', `/api/workspaces/${ws}/files/main.py`, '"""Adds two numbers."""\n\na = 1\nb = 2\nprint(a + b)\n'));
    const s2 = await submit(ws, 'second');

    const p = await page({ api: rev });
    await p.goto(`/submissions/${s2.id}`);
    // Opens on the diff, without a click.
    await p.waitForSelector('.diff-view .diff-file');
    assert.match(await p.textContent('.diff-view'), /Adds two numbers/);
    await p.waitForSelector('#earlier-comments');
    // Under the file's diff, and in the discussion.
    const inDiff = p.locator('.diff-view .note-earlier', { hasText: 'Call b something clearer.' });
    await inDiff.waitFor();
    assert.match(await inDiff.textContent(), /main\.py:4/);
    const note = p.locator('.discussion .note-earlier', { hasText: 'Call b something clearer.' });
    await note.waitFor();
    assert.match(await note.textContent(), /main\.py:4/, 'line 2 moved to line 4');
    assert.match(await note.textContent(), /line 2 in #/);
    assert.match(await p.textContent('.discussion'), /Names, please\./, 'the rejection is carried too');
    await shot(p, 'review-resubmission-diff');
    await p.setViewportSize({ width: 1024, height: 700 });
    await shot(p, 'review-resubmission-1024');
    // The carried comment opens the file at its new line.
    await note.locator('.note-loc').click();
    await p.waitForSelector('.snap-file.active[data-path="main.py"]');
    assert.deepEqual(p.errors, []);
});

test('the student sees an unread badge after a decision, and it clears when opened', async () => {
    await ok(await stu.req('POST', '/api/notifications/read', {}));
    const ws = await workspace(stu, 'Badge', { 'main.py': "print('hi')\n" });
    const s = await submit(ws, 'for the badge');
    const p = await page({ api: stu, colorScheme: 'light' });
    await p.goto('/submissions');
    await p.waitForSelector('.notify-bell');
    await until(async () => (await p.$eval('.notify-bell', (b) => b.getAttribute('aria-label'))) === 'Notifications: none unread');
    assert.equal(await p.isVisible('.notify-count'), false);

    await ok(await rev.req('POST', `/api/submissions/${s.id}/review`, { decision: 'approve', comment: 'Well done.' }));
    await p.goto('/'); // any page change asks for the count
    await p.waitForSelector('.notify-count:not([hidden])');
    assert.equal((await p.textContent('.notify-count')).trim(), '1');
    await p.click('.notify-bell');
    const item = p.locator('.notify-item.unread', { hasText: `#${s.id}` });
    await item.waitFor();
    assert.match(await item.textContent(), /rosa approved/);
    await shot(p, 'review-badge-open');
    await item.click();
    await p.waitForSelector('#verdict');
    await p.waitForSelector('.notify-count[hidden]', { state: 'attached' });
    assert.equal((await stu.req('GET', '/api/notifications?unread=1')).json.unread, 0);
    await shot(p, 'review-badge-cleared');
    assert.deepEqual(p.errors, []);
});

test('a comment reaches the bell at once: pushed, not polled, no reload, one stream for two tabs', async () => {
    await ok(await stu.req('POST', '/api/notifications/read', {}));
    const ws = await workspace(stu, 'Pushed', { 'main.py': "print('push')\n" });
    const s = await submit(ws, 'for the push');
    const p = await page({ api: stu, colorScheme: 'light' });
    const ctx = p.context();
    let streams = 0;
    ctx.on('request', (r) => { if (new URL(r.url()).pathname === '/api/events') streams++; });
    // These tabs never poll (a day between polls): only the push can move their count.
    await ctx.addInitScript(() => localStorage.setItem('pyroom.bellPollMs', String(24 * 3600 * 1000)));
    await p.goto('/submissions');
    const q = await ctx.newPage(); // a second tab of the same browser
    const qErrors = [];
    q.on('pageerror', (e) => qErrors.push(e.message));
    await q.goto('/');
    for (const t of [p, q]) {
        await t.waitForSelector('.notify-bell[data-live="1"]');
        await until(async () => (await t.$eval('.notify-bell', (b) => b.getAttribute('aria-label'))) === 'Notifications: none unread');
        await t.evaluate(() => { window.sameDocument = true; });
    }

    await ok(await rev.req('POST', `/api/submissions/${s.id}/comments`, { body: 'Why print?' }));
    // Well within the old 30 s poll of a page loaded just now, so the old page fails here.
    for (const t of [p, q]) {
        await t.waitForSelector('.notify-count:not([hidden])', { timeout: 20000 });
        assert.equal((await t.textContent('.notify-count')).trim(), '1');
        assert.equal(await t.evaluate(() => window.sameDocument), true, 'no reload');
    }
    assert.equal(streams, 1, 'one tab holds the stream, the other hears it from that tab');
    await p.click('.notify-bell');
    const item = p.locator('.notify-item.unread', { hasText: `#${s.id}` });
    await item.waitFor();
    assert.match(await item.textContent(), /rosa commented/);
    assert.deepEqual(p.errors, []);

    // The tab holding the stream goes: the other takes it over.
    await p.close();
    await until(async () => streams === 2, 30000);
    await q.waitForSelector('.notify-bell[data-live="1"]');
    await ok(await rev.req('POST', `/api/submissions/${s.id}/review`, { decision: 'approve' }));
    await until(async () => (await q.textContent('.notify-count')).trim() === '2', 20000);
    assert.equal(await q.evaluate(() => window.sameDocument), true, 'no reload');
    assert.deepEqual(qErrors, []);
    await q.close();
});
