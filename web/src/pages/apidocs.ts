// /api/docs: the API reference, rendered from the server's own OpenAPI document
// (GET /api/openapi.json, generated from scripts/openapi.py and tested against the router).
// Operations by tag with their parameters, bodies and answers; the error codes, the
// Server-Sent Events and the terminal's WebSocket messages. Everything is text nodes.

import { h } from '../dom';
import { errorBlock, loading, page } from '../session';

type Schema = Record<string, unknown>;
interface Param { name: string; in: string; required?: boolean; description?: string; schema?: Schema }
interface Op {
    operationId: string; summary: string; description?: string; tags: string[];
    parameters?: Param[]; requestBody?: { required?: boolean; content: Record<string, { schema: Schema }> };
    responses: Record<string, { description: string; content?: Record<string, { schema: Schema }> }>;
    security?: unknown[];
}
interface Doc {
    info: { title: string; version: string; description: string };
    tags: { name: string; description: string }[];
    paths: Record<string, Record<string, Op>>;
    components: { schemas: Record<string, Schema> };
    'x-error-codes': { code: string; status: number; meaning: string }[];
    'x-sse-events': Record<string, { description: string; events: Record<string, { summary: string; data: Schema }> }>;
    'x-websocket': { path: string; description: string; client: Record<string, Schema>; server: Record<string, Schema> };
}

const refName = (r: string) => r.replace('#/components/schemas/', '');
let schemas: Record<string, Schema> = {};
/** A body's or answer's schema shown in full: a top-level $ref is expanded once. */
const expanded = (s: Schema): Node =>
    typeof s.$ref === 'string' && schemas[refName(s.$ref)]
        ? h('span', null, h('a', { href: `#schema-${refName(s.$ref)}`, class: 'oa-ref' }, refName(s.$ref)), ' ', typeOf(schemas[refName(s.$ref)]))
        : typeOf(s);

/** A schema as a compact, readable type: `{ id: integer, name: string | null }`. */
function typeOf(s: Schema | undefined, depth = 0): Node {
    if (!s) return document.createTextNode('any');
    if (typeof s.$ref === 'string') return h('a', { href: `#schema-${refName(s.$ref)}`, class: 'oa-ref' }, refName(s.$ref));
    if (Array.isArray(s.oneOf)) return join((s.oneOf as Schema[]).map((x) => typeOf(x, depth)), ' | ');
    if (Array.isArray(s.allOf)) return join((s.allOf as Schema[]).map((x) => typeOf(x, depth)), ' & ');
    if ('const' in s) return h('span', { class: 'oa-lit' }, JSON.stringify(s.const));
    if (Array.isArray(s.enum)) return join((s.enum as unknown[]).map((v) => h('span', { class: 'oa-lit' }, JSON.stringify(v))), ' | ');
    const types = Array.isArray(s.type) ? (s.type as string[]) : [String(s.type ?? 'any')];
    const parts = types.map((t) => {
        if (t === 'array') return h('span', null, typeOf(s.items as Schema, depth), '[]');
        if (t === 'object' && s.properties && depth < 3) {
            const req = new Set((s.required as string[]) ?? []);
            const props = Object.entries(s.properties as Record<string, Schema>);
            return h('span', { class: 'oa-obj' }, '{',
                h('span', { class: 'oa-props' }, props.map(([k, v]) =>
                    h('span', { class: 'oa-prop' }, h('span', { class: 'oa-key' }, k), req.has(k) ? '' : '?', ': ', typeOf(v, depth + 1)))),
                '}');
        }
        return h('span', { class: 'oa-type' }, s.format ? `${t} (${String(s.format)})` : t);
    });
    return join(parts, ' | ');
}

function join(nodes: Node[], sep: string): Node {
    const f = h('span', null);
    nodes.forEach((n, i) => f.append(...(i ? [sep, n] : [n])));
    return f;
}

function operation(method: string, path: string, op: Op, codes: Map<string, { status: number; meaning: string }>): HTMLElement {
    const params = op.parameters ?? [];
    const body = op.requestBody ? Object.entries(op.requestBody.content)[0] : null;
    const id = op.operationId;
    return h('details', { class: 'oa-op', id, 'data-search': `${method} ${path} ${op.summary}`.toLowerCase() },
        h('summary', null,
            h('span', { class: `oa-method oa-${method}` }, method.toUpperCase()),
            h('code', { class: 'oa-path' }, path),
            h('span', { class: 'oa-summary' }, op.summary),
            op.security && op.security.length === 0 ? h('span', { class: 'oa-open', title: 'No login needed' }, 'public') : null),
        h('div', { class: 'oa-body' },
            op.description ? h('p', null, op.description) : null,
            params.length ? h('table', { class: 'oa-table' },
                h('thead', null, h('tr', null, h('th', null, 'Parameter'), h('th', null, 'In'), h('th', null, 'Type'), h('th', null, 'Meaning'))),
                h('tbody', null, params.map((p) => h('tr', null,
                    h('td', null, h('code', null, p.name), p.required ? '' : h('span', { class: 'muted' }, ' optional')),
                    h('td', null, p.in), h('td', null, typeOf(p.schema)), h('td', null, p.description ?? ''))))) : null,
            body ? h('div', { class: 'oa-section' }, h('h4', null, 'Body ', h('span', { class: 'muted' }, body[0], op.requestBody?.required ? '' : ', optional')), h('div', { class: 'oa-schema' }, expanded(body[1].schema))) : null,
            h('h4', null, 'Answers'),
            h('ul', { class: 'oa-answers' }, Object.entries(op.responses).map(([status, r]) => {
                const c = r.content ? Object.entries(r.content)[0] : null;
                const errs = (c?.[1].schema as Schema | undefined)?.['x-codes'] as string[] | undefined;
                return h('li', null,
                    h('span', { class: `oa-status oa-s${status[0]}` }, status), ' ',
                    errs ? errs.map((e, i) => [i ? ', ' : '', h('code', { title: codes.get(e)?.meaning ?? '' }, e)]) : r.description,
                    c && !errs ? [' · ', h('span', { class: 'muted' }, c[0]), ' ', h('span', { class: 'oa-schema-inline' }, typeOf(c[1].schema))] : null);
            }))));
}

function render(doc: Doc): HTMLElement[] {
    schemas = doc.components.schemas;
    const codes = new Map(doc['x-error-codes'].map((c) => [c.code, c]));
    const ops: [string, string, Op][] = [];
    for (const [path, item] of Object.entries(doc.paths)) for (const [m, op] of Object.entries(item)) ops.push([m, path, op]);
    const filter = h('input', { type: 'search', class: 'input oa-filter', placeholder: 'Filter: method, path or words…', 'aria-label': 'Filter operations' });
    const sections = doc.tags.map((t) => {
        const mine = ops.filter(([, , op]) => op.tags[0] === t.name);
        return h('section', { class: 'oa-tag', id: `tag-${t.name}` }, h('h2', null, t.description), mine.map(([m, p, op]) => operation(m, p, op, codes)));
    });
    filter.addEventListener('input', () => {
        const q = filter.value.trim().toLowerCase();
        for (const el of document.querySelectorAll<HTMLElement>('.oa-op')) el.hidden = !!q && !el.dataset.search!.includes(q);
        for (const s of sections) s.hidden = !!q && !s.querySelector('.oa-op:not([hidden])');
    });
    const sse = Object.entries(doc['x-sse-events']).map(([k, v]) => h('div', { class: 'oa-card' },
        h('h3', null, `${k} stream `, h('code', null, v.description)),
        h('table', { class: 'oa-table' }, h('tbody', null, Object.entries(v.events).map(([name, e]) =>
            h('tr', null, h('td', null, h('code', null, name)), h('td', null, e.summary), h('td', null, typeOf(e.data))))))));
    const ws = doc['x-websocket'];
    const nav = h('nav', { class: 'oa-nav', 'aria-label': 'Sections' },
        doc.tags.map((t) => h('a', { href: `#tag-${t.name}` }, t.description)),
        h('a', { href: '#errors' }, 'Error codes'), h('a', { href: '#events' }, 'Events and WebSocket'), h('a', { href: '#schemas' }, 'Schemas'),
        h('a', { href: '/api/openapi.json', class: 'oa-raw' }, 'openapi.json ↗'));
    return [
        h('div', { class: 'page-head' }, h('div', null, h('h1', null, doc.info.title, ' ', h('span', { class: 'badge' }, `v${doc.info.version}`)), h('p', { class: 'muted' }, doc.info.description))),
        h('div', { class: 'oa-layout' }, nav, h('div', { class: 'oa-main' }, filter, sections,
            h('section', { class: 'oa-tag', id: 'errors' }, h('h2', null, 'Error codes'),
                h('p', { class: 'muted' }, 'Every error answer is {"error": {"code", "message"}}; the code is stable, the message is for people.'),
                h('table', { class: 'oa-table' }, h('thead', null, h('tr', null, h('th', null, 'Status'), h('th', null, 'Code'), h('th', null, 'Meaning'))),
                    h('tbody', null, doc['x-error-codes'].map((c) => h('tr', null, h('td', null, h('span', { class: `oa-status oa-s${String(c.status)[0]}` }, String(c.status))), h('td', null, h('code', null, c.code)), h('td', null, c.meaning)))))),
            h('section', { class: 'oa-tag', id: 'events' }, h('h2', null, 'Server-Sent Events and the terminal WebSocket'), sse,
                h('div', { class: 'oa-card' }, h('h3', null, 'terminal ', h('code', null, ws.path)), h('p', null, ws.description),
                    h('table', { class: 'oa-table' }, h('tbody', null,
                        Object.entries(ws.client).map(([k, v]) => h('tr', null, h('td', null, 'client → server'), h('td', null, h('code', null, k)), h('td', null, typeOf(v)))),
                        Object.entries(ws.server).map(([k, v]) => h('tr', null, h('td', null, 'server → client'), h('td', null, h('code', null, k)), h('td', null, typeOf(v)))))))),
            h('section', { class: 'oa-tag', id: 'schemas' }, h('h2', null, 'Schemas'),
                Object.entries(doc.components.schemas).map(([name, s]) => h('div', { class: 'oa-card', id: `schema-${name}` },
                    h('h3', null, name), s.description ? h('p', { class: 'muted' }, String(s.description)) : null, h('div', { class: 'oa-schema' }, typeOf(s))))))),
    ];
}

export async function apiDocsPage(): Promise<void> {
    const main = page('ide', 'API reference', loading());
    main.classList.add('oa-page');
    try {
        const r = await fetch('/api/openapi.json', { credentials: 'same-origin' });
        if (!r.ok) throw new Error(`the document did not load (HTTP ${r.status})`);
        main.replaceChildren(...render((await r.json()) as Doc));
        if (location.hash) document.getElementById(location.hash.slice(1))?.scrollIntoView();
    } catch (e) {
        main.replaceChildren(errorBlock(e instanceof Error ? e.message : String(e), () => void apiDocsPage()));
    }
}
