// Validates the server's OpenAPI document (../build/openapi.json, or the path given)
// against the official OpenAPI 3.1 JSON schema, and checks what the schema cannot: every
// $ref resolves, operationIds are unique, every path template's parameters are declared.
// `npm run lint:openapi`; scripts/run-tests.sh runs it in the web suite.
import { Validator } from '@seriousme/openapi-schema-validator';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const file = process.argv[2] ?? join(here, '..', '..', process.env.BUILD ?? 'build', 'openapi.json');
const doc = JSON.parse(readFileSync(file, 'utf8'));
const problems = [];

const validator = new Validator();
const res = await validator.validate(doc);
if (!res.valid) for (const e of [res.errors].flat()) problems.push(`schema: ${JSON.stringify(e)}`);
if (validator.version !== '3.1') problems.push(`version: ${validator.version}, want 3.1`);

const at = (ptr) => ptr.slice(2).split('/').reduce((o, k) => (o === undefined ? o : o[k.replace(/~1/g, '/').replace(/~0/g, '~')]), doc);
const walk = (v, where) => {
    if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${where}/${i}`));
    else if (v && typeof v === 'object') {
        if (typeof v.$ref === 'string' && (!v.$ref.startsWith('#/') || at(v.$ref) === undefined)) problems.push(`${where}: unresolved $ref ${v.$ref}`);
        for (const [k, x] of Object.entries(v)) walk(x, `${where}/${k}`);
    }
};
walk(doc, '#');

const ids = new Set();
for (const [path, item] of Object.entries(doc.paths)) {
    const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
    for (const [method, op] of Object.entries(item)) {
        if (ids.has(op.operationId)) problems.push(`${method} ${path}: duplicate operationId ${op.operationId}`);
        ids.add(op.operationId);
        const declared = (op.parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name);
        for (const n of names) if (!declared.includes(n)) problems.push(`${method} ${path}: path parameter {${n}} not declared`);
        for (const n of declared) if (!names.includes(n)) problems.push(`${method} ${path}: parameter ${n} not in the path`);
        if (!op.summary) problems.push(`${method} ${path}: no summary`);
        if (!Object.keys(op.responses ?? {}).some((s) => s.startsWith('2') || s === '101')) problems.push(`${method} ${path}: no success answer`);
    }
}

if (problems.length) {
    for (const p of problems) console.error(`openapi: ${p}`);
    console.error(`openapi: ${problems.length} problem(s) in ${file}`);
    process.exit(1);
}
console.log(`openapi: ${file} is valid OpenAPI ${validator.version} (${ids.size} operations)`);
