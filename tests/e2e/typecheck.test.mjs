// `make check` type-checks the page: tsc --noEmit over web/src (strict).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';

test('the page type-checks (tsc --noEmit)', () => {
    const root = process.env.PYROOM_ROOT || process.cwd();
    const r = spawnSync(process.execPath, [join(root, 'web/node_modules/typescript/bin/tsc'), '--noEmit', '-p', join(root, 'web')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
});
