// Helpers for the browser tests: one chromium per test file (Debian's, through
// playwright-core), pages in fresh contexts, screenshots, and a small API client for
// setting up state and checking what the server holds.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { after, afterEach, before, test as nodeTest } from 'node:test';
import { join, resolve } from 'node:path';

const root = process.env.PYROOM_ROOT || resolve(process.cwd());
const require = createRequire(join(root, 'web/package.json'));
const { chromium } = require('playwright-core');

export const BASE = process.env.PYROOM_E2E_URL;
if (!BASE) throw new Error('PYROOM_E2E_URL is not set: run tests/e2e/run.mjs');
const SHOTS = join(root, 'build/screenshots');
mkdirSync(SHOTS, { recursive: true });

let browser = null;

/** Chromium with the flags this machine needs. playwright-core gives every launch a fresh,
 *  temporary profile directory (it refuses --user-data-dir for plain launches). */
export async function launch() {
    if (browser) return browser;
    browser = await chromium.launch({
        executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
        headless: true,
        args: [
            '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
            '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
            '--disable-dev-shm-usage',
        ],
    });
    return browser;
}

export async function closeBrowser() {
    await browser?.close();
    browser = null;
}

/** A page in a new context (its own cookies and storage). Page errors fail loudly. */
export async function newPage(opts = {}) {
    const b = await launch();
    const ctx = await b.newContext({ viewport: { width: 1366, height: 820 }, colorScheme: opts.colorScheme ?? 'dark', baseURL: BASE });
    const page = await ctx.newPage();
    page.errors = [];
    page.on('pageerror', (e) => page.errors.push(e.message));
    page.setDefaultTimeout(opts.timeout ?? 10000);
    if (opts.api?.cookie) {
        const [name, value] = opts.api.cookie.split('=');
        await ctx.addCookies([{ name, value, url: BASE }]);
    }
    return page;
}

export async function shot(page, name) {
    await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Fills the registration form and waits for the workspace list. */
export async function registerUI(page, username, password = 'correct horse 1') {
    await page.goto('/register');
    await page.fill('#username', username);
    await page.fill('#password', password);
    await page.click('form.auth-form button[type=submit]');
    await page.waitForSelector('#new-workspace-name');
}

export async function loginUI(page, username, password = 'correct horse 1') {
    await page.goto('/login');
    await page.fill('#username', username);
    await page.fill('#password', password);
    await page.click('form.auth-form button[type=submit]');
    await page.waitForSelector('.topbar .user-name');
}

/** Creates a workspace through the page and waits for the IDE's editor. Returns its id. */
export async function createWorkspaceUI(page, name) {
    await page.goto('/');
    await page.fill('#new-workspace-name', name);
    await page.click('.inline-form button[type=submit]');
    await page.waitForURL(/\/w\/\d+$/);
    await page.waitForSelector('.cm-content');
    return Number(/\/w\/(\d+)/.exec(page.url())[1]);
}

/** Replaces the editor's text exactly (no auto-indent or bracket closing), like a paste. */
export async function setEditorText(page, text) {
    await page.click('.editor-host .cm-content');
    await page.keyboard.press('ControlOrMeta+a');
    if (text) await page.keyboard.insertText(text);
    else await page.keyboard.press('Delete');
}

export async function editorText(page) {
    return page.$$eval('.editor-host .cm-line', (ls) => ls.map((l) => l.textContent).join('\n'));
}

export async function waitSaved(page) {
    await page.waitForSelector('.sb-save[data-state=saved]', { timeout: 10000 });
}

/** A tiny API client with the session cookie and CSRF token of one user. */
export class Api {
    constructor() {
        this.cookie = '';
        this.csrf = '';
    }
    async req(method, path, body, headers = {}) {
        const h = { ...headers };
        if (this.cookie) h.Cookie = this.cookie;
        if (method !== 'GET' && this.csrf) h['X-CSRF-Token'] = this.csrf;
        let payload = body;
        if (body !== undefined && typeof body !== 'string') {
            h['Content-Type'] = 'application/json';
            payload = JSON.stringify(body);
        }
        const r = await fetch(BASE + path, { method, headers: h, body: payload, redirect: 'manual' });
        const set = r.headers.get('set-cookie');
        if (set) {
            const m = /pyroom_session=([^;]*)/.exec(set);
            if (m) this.cookie = `pyroom_session=${m[1]}`;
        }
        const text = await r.text();
        let json = null;
        try {
            json = text ? JSON.parse(text) : null;
        } catch {
            /* raw */
        }
        return { status: r.status, json, text, headers: r.headers };
    }
    async login(username, password = 'correct horse 1') {
        const r = await this.req('POST', '/api/auth/login', { username, password });
        if (r.status !== 200) throw new Error(`login ${username}: ${r.status} ${r.text}`);
        this.csrf = r.json.csrf_token;
        return r.json.user;
    }
    async register(username, password = 'correct horse 1') {
        const r = await this.req('POST', '/api/auth/register', { username, password });
        if (r.status !== 201) throw new Error(`register ${username}: ${r.status} ${r.text}`);
        this.csrf = r.json.csrf_token;
        return r.json.user;
    }
    async file(ws, path) {
        const r = await this.req('GET', `/api/workspaces/${ws}/files/${path.split('/').map(encodeURIComponent).join('/')}`);
        return r.status === 200 ? r.text : null;
    }
}

/** True when the server does not have this API yet (404 for a path under a real resource). */
export async function missing(api, path) {
    const r = await api.req('GET', path);
    return r.status === 404;
}

/** Polls fn until it returns a truthy value, and returns it; throws when ms run out. */
export async function until(fn, ms = 10000, step = 100) {
    const end = Date.now() + ms;
    let last;
    while (Date.now() < end) {
        last = await fn();
        if (last) return last;
        await new Promise((r) => setTimeout(r, step));
    }
    // A wait that runs out is a failure, never a falsy value the caller may ignore.
    throw new Error(`condition not met within ${ms} ms (last value: ${JSON.stringify(last)}): ${fn}`);
}

/** The frame every browser test file shares: chromium launched before its tests (then
 *  setup({ page }), if given) and closed after them; pages made with page(opts) are
 *  tracked and closed after each test (closeEach, the default) or at the end; a failing
 *  test leaves a screenshot of the last page (build/screenshots/FAILED-*.png); every test
 *  has a deadline (PYROOM_TEST_TIMEOUT seconds; a hang is reported "cancelled"); with
 *  checkErrors a JavaScript error in any page since the last test fails the test too.
 *  onPage(p) runs on each new page. Returns { test, page, pages }. */
export function suite({ closeEach = true, checkErrors = false, setup = null, onPage = null } = {}) {
    const pages = [];
    const failed = new Set();
    async function page(opts) {
        const p = await newPage(opts);
        if (onPage) onPage(p);
        pages.push(p);
        return p;
    }
    const timeout = Number(process.env.PYROOM_TEST_TIMEOUT || 300) * 1000;
    function test(name, fn) {
        nodeTest(name, { timeout }, async (t) => {
            try {
                await fn(t);
                if (checkErrors) {
                    for (const p of pages) assert.deepEqual(p.errors.splice(0), [], `JavaScript errors in ${p.isClosed() ? 'a closed page' : p.url()}`);
                }
            } catch (e) {
                failed.add(name);
                throw e;
            }
        });
    }
    afterEach(async (t) => {
        const p = pages[pages.length - 1];
        if (p && !p.isClosed() && failed.has(t.name)) await shot(p, `FAILED-${t.name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}`).catch(() => {});
        // Each page holds event streams open; a server has a bounded number of connections.
        if (closeEach) for (const q of pages.splice(0)) await q.context().close().catch(() => {});
    });
    before(async () => {
        await launch();
        if (setup) await setup({ page });
    });
    after(async () => {
        for (const p of pages) await p.context().close().catch(() => {});
        await closeBrowser();
    });
    return { test, page, pages };
}
