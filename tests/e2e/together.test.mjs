// Working together (issue 17, the live half), in two browser contexts at once: two editors
// type into one file at the same time and both end with the same text holding every
// character, which is also what the server stores (sorted after page.test.mjs, which registers
// the first account); a follower's editor goes to the file,
// cursor line and scroll of the person it follows. Screenshots in build/screenshots/.
import assert from 'node:assert/strict';
import { Api, editorText, shot, suite, until } from './lib.mjs';

const api = new Api();
let ws = 0;

const viewerApi = new Api();

async function openIde(path, as = api) {
    const p = await page({ api: as, timeout: 20000 });
    await p.goto(`/w/${ws}`);
    await p.click(`.tree-row[data-path="${path}"]`);
    await p.waitForSelector('.editor-host .cm-content');
    return p;
}

const { test, page } = suite({
    closeEach: false,
    setup: async () => {
        await api.register(`co${Date.now().toString(36)}`);
        const r = await api.req('POST', '/api/workspaces', { name: 'together' });
        ws = r.json.id;
        await api.req('PUT', `/api/workspaces/${ws}/files/main.py`, '# shared\nx = 1\n');
        const long = Array.from({ length: 300 }, (_, i) => `line_${i + 1} = ${i + 1}`).join('\n') + '\n';
        await api.req('PUT', `/api/workspaces/${ws}/files/long.py`, long);
        // The follower is a viewer: members are issue 17's other half.
        const v = await viewerApi.register(`cv${Date.now().toString(36)}`);
        const m = await api.req('POST', `/api/workspaces/${ws}/members`, { username: v.username, role: 'viewer' });
        assert.equal(m.status, 201, m.text);
    },
});

test('a viewer following the leader sees their file, cursor line, scroll and typing', async () => {
    const leader = await openIde('main.py');
    const follower = await openIde('main.py', viewerApi);
    // The leader moves to long.py: the follower learns of it, and its chip names long.py.
    await leader.click('.tree-row[data-path="long.py"]');
    const chip = follower.locator('.presence-chip', { hasText: 'long.py' });
    await chip.first().waitFor();
    await chip.first().click();
    assert.equal(await chip.first().getAttribute('aria-pressed'), 'true');
    // The follower goes to the leader's file at once.
    await until(async () => (await follower.getAttribute('.tab.active', 'data-path')) === 'long.py', 10000);
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
    // The leader types: the follower sees the characters (once saved) where the cursor is.
    await leader.keyboard.type('  # watched', { delay: 20 });
    await until(async () => (await editorText(follower)).includes('line_130 = 130  # watched'), 10000);
    await until(async () => /Ln 130, Col 26/.test(await follower.textContent('.statusbar')), 10000);
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
