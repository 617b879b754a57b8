// Browser tests: starts its own pyroom on a free loopback port with a throw-away SQLite
// database, then runs tests/e2e/*.test.mjs with node:test (TAP output, so the summary has
// "# pass N", "# fail N", "# cancelled N", "# skipped N" and "# todo N" lines) against it in Debian's chromium via playwright-core.
//
//   node tests/e2e/run.mjs            (PYROOM_BIN defaults to build/pyroom)
//   PYROOM_E2E_URL=http://... node tests/e2e/run.mjs   against a server already running
//   PYROOM_E2E_ONLY=page2 node tests/e2e/run.mjs       only tests/e2e/*page2*.test.mjs
//
// Screenshots land in build/screenshots/.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, mkdirSync, openSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const bin = resolve(root, process.env.PYROOM_BIN || 'build/pyroom');

function freePort() {
    return new Promise((res, rej) => {
        const s = net.createServer();
        s.once('error', rej);
        s.listen(0, '127.0.0.1', () => {
            const { port } = s.address();
            s.close(() => res(port));
        });
    });
}

async function waitHealthy(url, proc, ms = 15000) {
    const end = Date.now() + ms;
    while (Date.now() < end) {
        if (proc && proc.exitCode !== null) throw new Error(`pyroom exited with ${proc.exitCode}`);
        try {
            const r = await fetch(`${url}/api/health`);
            if (r.ok) return;
        } catch {
            /* not up yet */
        }
        await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`pyroom did not answer ${url}/api/health within ${ms} ms`);
}

let server = null;
let tmp = null;
let url = process.env.PYROOM_E2E_URL;
// The data directory goes once the server is gone: a live server still has its terminal
// environments' file systems (tmpfs) mounted inside it. A server that died without
// unmounting leaves them mounted, so those are unmounted first.
const removeTmp = () => {
    if (!tmp) return;
    const dir = tmp;
    tmp = null;
    try {
        rmSync(dir, { recursive: true, force: true });
    } catch {
        const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n')
            .map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(`${dir}/`));
        for (const m of mounts.reverse()) spawnSync('umount', ['-l', m]);
        rmSync(dir, { recursive: true, force: true });
    }
};
const stop = () => {
    if (server && server.exitCode === null) server.kill('SIGTERM');
    removeTmp();
};
// At the end: SIGTERM, wait for the server to exit (SIGKILL after 20 s), then clean up.
const stopAndWait = async () => {
    if (server && server.exitCode === null) {
        const gone = new Promise((r) => server.once('exit', r));
        server.kill('SIGTERM');
        const t = setTimeout(() => server.kill('SIGKILL'), 20000);
        await gone;
        clearTimeout(t);
    }
    removeTmp();
};
process.on('exit', stop);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

// Screenshots of failures from an earlier run would mislead.
const shots = join(root, 'build/screenshots');
if (existsSync(shots)) for (const f of readdirSync(shots)) if (f.startsWith('FAILED-')) rmSync(join(shots, f));

try {
    if (!existsSync(join(root, 'web/dist/index.html'))) {
        const b = spawnSync('npm', ['run', '--silent', 'build'], { cwd: join(root, 'web'), stdio: 'inherit' });
        if (b.status !== 0) throw new Error('the page did not build (npm run build in web/)');
    }
    if (!url) {
        if (!existsSync(bin)) throw new Error(`${bin} not found (build it with make, or set PYROOM_BIN)`);
        tmp = mkdtempSync(join(tmpdir(), 'pyroom-e2e-'));
        const port = await freePort();
        url = `http://127.0.0.1:${port}`;
        mkdirSync(join(root, 'build/logs'), { recursive: true });
        const log = openSync(join(root, 'build/logs/e2e-server.log'), 'w');
        server = spawn(bin, ['serve', '--listen', `127.0.0.1:${port}`, '--database', `sqlite:${tmp}/db.sqlite`, '--data-dir', tmp,
            '--web-dir', join(root, 'web/dist')], { cwd: root, stdio: ['ignore', log, log] });
        await waitHealthy(url, server);
    }
} catch (e) {
    // Report as one failing test so the summary counts it.
    console.log('TAP version 13');
    console.log(`not ok 1 - e2e set-up\n  ---\n  error: ${JSON.stringify(String(e.message ?? e))}\n  ...`);
    console.log('1..1\n# tests 1\n# pass 0\n# fail 1');
    process.exit(1);
}

// PYROOM_E2E_ONLY=page2 runs only the files whose name contains that word.
const only = process.env.PYROOM_E2E_ONLY || '';
const files = readdirSync(here).filter((f) => f.endsWith('.test.mjs') && f.includes(only)).sort().map((f) => join(here, f));
// PYROOM_E2E_GREP=B5 runs only the tests whose name matches (node --test-name-pattern).
const grep = process.env.PYROOM_E2E_GREP ? [`--test-name-pattern=${process.env.PYROOM_E2E_GREP}`] : [];
// Each test has a deadline (PYROOM_TEST_TIMEOUT seconds, set per test in page.test.mjs: node's
// --test-timeout would apply to each whole file); a hang is reported "cancelled".
const child = spawn(process.execPath, ['--test', '--test-reporter=tap', '--test-concurrency=1', ...grep, ...files], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, PYROOM_E2E_URL: url, PYROOM_ROOT: root },
});
child.on('exit', async (code) => {
    await stopAndWait();
    process.exit(code ?? 1);
});
