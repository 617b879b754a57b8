// Language intelligence in the editor, from the server's sandboxed language workers
// (docs/api.md, "Language services"): completions with kinds and docs, signature help while
// typing arguments, hover cards, squiggles and a problems count, F12 / Ctrl+click to a
// definition, Shift+Alt+F to format, and file:line links in tracebacks. Everything the
// server answers is shown as text, never as HTML.
//
// Positions: the API counts lines from 1 and columns from 0 in code points; CodeMirror
// counts UTF-16 units from the start of the document. cpToUnits/unitsToCp convert within a
// line.

import { autocompletion, type Completion, type CompletionContext, type CompletionResult } from '@codemirror/autocomplete';
import { syntaxTree } from '@codemirror/language';
import { type Diagnostic, linter, lintGutter, openLintPanel } from '@codemirror/lint';
import { type EditorState, type Extension, Prec, StateEffect, StateField } from '@codemirror/state';
import { EditorView, hoverTooltip, keymap, showTooltip, type Tooltip, ViewPlugin, type ViewUpdate } from '@codemirror/view';
import { ApiError, langServices } from './api';
import { dialog, h, toast } from './dom';
import { baseExtensions, languageFor } from './editor';

/** What the page around the editor gives the language support. */
export interface LangHooks {
    /** Opens a workspace file in the editor (resolves once it is shown). */
    open(path: string): Promise<void>;
    /** The editor view showing the active file, if any. */
    view(): EditorView | null;
}

interface CompleteItem { label: string; kind: string; detail: string; insert: string }
interface Signature { label: string; params: string[]; active_param: number | null; doc: string }
interface Definition { path: string | null; line: number; column: number; module?: string; text?: string }
interface Problem { line: number; column: number; end_line: number; end_column: number; severity: 'error' | 'warning'; message: string; code: string }

const PYTHON = /\.pyw?$|\.pyi$/;

export function cpToUnits(text: string, cp: number): number {
    let i = 0;
    for (let n = 0; i < text.length && n < cp; n++) i += (text.codePointAt(i) ?? 0) > 0xffff ? 2 : 1;
    return i;
}

export function unitsToCp(text: string, units: number): number {
    let n = 0;
    for (let i = 0; i < units && i < text.length; n++) i += (text.codePointAt(i) ?? 0) > 0xffff ? 2 : 1;
    return n;
}

/** The API position of document offset pos. */
function apiPos(state: EditorState, pos: number): { line: number; column: number } {
    const line = state.doc.lineAt(pos);
    return { line: line.number, column: unitsToCp(line.text, pos - line.from) };
}

/** The document offset of an API position, clamped to the document. */
function docPos(state: EditorState, line: number, column: number): number {
    const l = state.doc.line(Math.min(Math.max(line, 1), state.doc.lines));
    return l.from + cpToUnits(l.text, Math.max(column, 0));
}

/** Renders a hover's markdown: the fenced signature as code, the rest as plain text. */
function renderDoc(md: string, cls = 'cm-lang-card'): HTMLElement {
    const box = h('div', { class: cls });
    const m = /^```python\n([\s\S]*?)\n```\n?\n?([\s\S]*)$/.exec(md);
    const code = m ? m[1] : '';
    const doc = m ? m[2] : md;
    if (code) box.append(h('pre', { class: 'cm-lang-code' }, code));
    if (doc.trim()) box.append(h('div', { class: 'cm-lang-doc' }, doc.trim()));
    return box;
}

const KIND: Record<string, string> = {
    module: 'namespace', class: 'class', function: 'function', instance: 'variable', param: 'variable',
    keyword: 'keyword', path: 'text', property: 'property', statement: 'variable',
};

/** Language support for one workspace: one object per IDE, extensions per file. */
export class Lang {
    /** The status bar's problems count (click: the list of problems). */
    readonly status: HTMLButtonElement;
    private counts = new Map<string, { errors: number; warnings: number }>();
    private activePath = '';

    constructor(private ws: number, private hooks: LangHooks) {
        this.status = h('button', { type: 'button', class: 'sb-item sb-problems link', title: 'Problems (click to list them)', 'aria-label': 'Problems', hidden: true, onclick: () => { const v = this.hooks.view(); if (v) openLintPanel(v); } });
    }

    /** POSTs one language request; null when it failed or was aborted (the editor stays
     * usable without answers: a busy or slow worker only means no popup this time). A
     * request the server dropped for a newer one of ours (409 superseded) is silent: the
     * newer answer follows. */
    private async call<T>(op: string, body: object, signal?: AbortSignal): Promise<T | null> {
        try {
            const res = await langServices.call(this.ws, op, body, signal);
            return (await res.json()) as T;
        } catch (e) {
            if (e instanceof ApiError && e.code !== 'superseded' && (op === 'format' || op === 'definition')) toast(e.message, 'error');
            return null;
        }
    }

    /** The extensions for one file (none for files that are not Python). */
    extensions(path: string): Extension {
        if (!PYTHON.test(path)) return [];
        return [
            autocompletion({ override: [(ctx) => this.complete(path, ctx)] }),
            this.signatureHelp(path),
            hoverTooltip((view, pos) => this.hover(path, view, pos), { hoverTime: 350 }),
            linter((view) => this.lint(path, view), { delay: 400 }),
            lintGutter(),
            Prec.high(keymap.of([
                { key: 'F12', run: (v) => (void this.goto(path, v, v.state.selection.main.head), true) },
                { key: 'Shift-Alt-f', run: (v) => (void this.format(path, v), true) },
            ])),
            EditorView.domEventHandlers({
                mousedown: (e, view) => {
                    if (!(e.ctrlKey || e.metaKey) || e.button !== 0) return false;
                    const pos = view.posAtCoords({ x: e.clientX, y: e.clientY });
                    if (pos === null) return false;
                    e.preventDefault();
                    void this.goto(path, view, pos);
                    return true;
                },
            }),
            EditorView.updateListener.of((u) => {
                if (u.view.hasFocus && this.activePath !== path) {
                    this.activePath = path;
                    this.showCounts();
                }
            }),
        ];
    }

    /** Called by the page when another file (or none) becomes active. */
    setActive(path: string): void {
        this.activePath = path;
        this.showCounts();
    }

    private showCounts(): void {
        const c = PYTHON.test(this.activePath) ? this.counts.get(this.activePath) : undefined;
        this.status.hidden = !c;
        if (!c) return;
        this.status.replaceChildren(
            h('span', { class: c.errors ? 'sb-err' : 'muted' }, `✕ ${c.errors}`), ' ',
            h('span', { class: c.warnings ? 'sb-warn' : 'muted' }, `⚠ ${c.warnings}`));
        this.status.dataset.errors = String(c.errors);
        this.status.dataset.warnings = String(c.warnings);
        this.status.title = c.errors + c.warnings ? `${c.errors} error(s), ${c.warnings} warning(s): click to list them` : 'No problems';
    }

    private async complete(path: string, ctx: CompletionContext): Promise<CompletionResult | null> {
        const word = ctx.matchBefore(/\w+$/);
        const dot = ctx.matchBefore(/\.$/);
        const quote = ctx.matchBefore(/["'][^"'\n]*$/);
        if (!ctx.explicit && !word && !dot && !quote) return null;
        const abort = new AbortController();
        ctx.addEventListener('abort', () => abort.abort());
        const source = ctx.state.doc.toString();
        const at = apiPos(ctx.state, ctx.pos);
        const res = await this.call<{ items: CompleteItem[] }>('complete', { path, source, ...at }, abort.signal);
        if (!res || ctx.aborted || !res.items.length) return null;
        const first = res.items[0];
        const typed = first.label.slice(0, Math.max(0, first.label.length - first.insert.length));
        const from = ctx.pos - typed.length;
        const options: Completion[] = res.items.map((it, i) => ({
            label: it.label,
            type: KIND[it.kind] ?? 'variable',
            detail: it.kind === 'path' ? undefined : it.detail.replace(/^(def|class|module|instance|param|keyword|statement)\s+/, ''),
            boost: -i / 1000, // keep jedi's order
            // Docs of the selected item: a hover at the name as if it were inserted.
            info: it.kind === 'keyword' || it.kind === 'path' ? undefined : async () => {
                const src = source.slice(0, from) + it.label + source.slice(ctx.pos);
                const md = await this.call<{ markdown: string }>('hover', { path, source: src, line: at.line, column: at.column - unitsToCp(typed, typed.length) });
                return md?.markdown ? renderDoc(md.markdown, 'cm-lang-info') : null;
            },
        }));
        return { from, options, validFor: /^\w*$/ };
    }

    private async hover(path: string, view: EditorView, pos: number): Promise<Tooltip | null> {
        const line = view.state.doc.lineAt(pos);
        const text = line.text;
        let s = pos - line.from, e = s;
        while (s > 0 && /\w/.test(text[s - 1])) s--;
        while (e < text.length && /\w/.test(text[e])) e++;
        if (s === e) return null;
        const res = await this.call<{ markdown: string }>('hover', { path, source: view.state.doc.toString(), ...apiPos(view.state, line.from + s) });
        if (!res?.markdown) return null;
        return { pos: line.from + s, end: line.from + e, above: true, create: () => ({ dom: renderDoc(res.markdown) }) };
    }

    private async lint(path: string, view: EditorView): Promise<Diagnostic[]> {
        const state = view.state;
        const res = await this.call<{ items: Problem[] }>('diagnostics', { path, source: state.doc.toString() });
        if (!res) return [];
        const out: Diagnostic[] = res.items.map((p) => {
            const from = docPos(state, p.line, p.column);
            const to = Math.max(docPos(state, p.end_line, p.end_column), from);
            return { from, to, severity: p.severity, message: p.message, source: p.code };
        });
        this.counts.set(path, {
            errors: out.filter((d) => d.severity === 'error').length,
            warnings: out.filter((d) => d.severity === 'warning').length,
        });
        if (path === this.activePath || !this.activePath) {
            this.activePath = path;
            this.showCounts();
        }
        return out;
    }

    /** Jumps to the definition of what is at pos: a workspace file opens at the line; a
     * library's source is shown read-only. */
    async goto(path: string, view: EditorView, pos: number): Promise<void> {
        const res = await this.call<{ items: Definition[] }>('definition', { path, source: view.state.doc.toString(), ...apiPos(view.state, pos) });
        const d = res?.items[0];
        if (!d) {
            if (res) toast('No definition found here.');
            return;
        }
        if (d.path) await this.openAt(d.path, d.line, d.column);
        else if (d.text !== undefined) await showLibrary(d.module ?? 'library', d.text, d.line);
    }

    /** Opens a workspace file with the cursor at an API position. */
    async openAt(path: string, line: number, column = 0): Promise<void> {
        await this.hooks.open(path);
        const v = this.hooks.view();
        if (!v) return;
        const at = docPos(v.state, line, column);
        v.dispatch({ selection: { anchor: at }, effects: EditorView.scrollIntoView(at, { y: 'center' }) });
        v.focus();
    }

    /** Formats the file with black; only the changed middle is replaced (the cursor stays). */
    async format(path: string, view: EditorView): Promise<void> {
        const before = view.state.doc.toString();
        const res = await this.call<{ source: string }>('format', { path, source: before });
        if (!res || view.state.doc.toString() !== before || res.source === before) return;
        const after = res.source;
        let a = 0;
        while (a < before.length && a < after.length && before[a] === after[a]) a++;
        let b = 0;
        while (b < before.length - a && b < after.length - a && before[before.length - 1 - b] === after[after.length - 1 - b]) b++;
        view.dispatch({ changes: { from: a, to: before.length - b, insert: after.slice(a, after.length - b) }, userEvent: 'format' });
    }

    /** Signature help: a tooltip above the call whose arguments the cursor is in. */
    private signatureHelp(path: string): Extension {
        const setSig = StateEffect.define<Tooltip | null>();
        const field = StateField.define<Tooltip | null>({
            create: () => null,
            update(v, tr) {
                for (const e of tr.effects) if (e.is(setSig)) return e.value;
                if (v && tr.docChanged) return { ...v, pos: tr.changes.mapPos(v.pos) };
                return v;
            },
            provide: (f) => showTooltip.from(f),
        });
        const call = (op: string, body: object, signal: AbortSignal) => this.call<{ signatures: Signature[] }>(op, body, signal);
        const plugin = ViewPlugin.fromClass(class {
            timer = 0;
            abort: AbortController | null = null;
            constructor(readonly view: EditorView) {}
            update(u: ViewUpdate) {
                if (!u.docChanged && !u.selectionSet) return;
                clearTimeout(this.timer);
                this.timer = window.setTimeout(() => void this.fetch(), 150);
            }
            destroy() {
                clearTimeout(this.timer);
                this.abort?.abort();
            }
            async fetch() {
                const state = this.view.state;
                const pos = state.selection.main.head;
                const args = argListAt(state, pos);
                this.abort?.abort();
                if (args === null) {
                    if (state.field(field)) this.view.dispatch({ effects: setSig.of(null) });
                    return;
                }
                const abort = (this.abort = new AbortController());
                const res = await call('signature', { path, source: state.doc.toString(), ...apiPos(state, pos) }, abort.signal);
                if (abort.signal.aborted || this.view.state.doc !== state.doc) return;
                const sig = res?.signatures[0];
                this.view.dispatch({ effects: setSig.of(sig ? { pos: args, above: true, create: () => ({ dom: renderSignature(sig) }) } : null) });
            }
        });
        return [field, plugin, keymap.of([{ key: 'Escape', run: (v) => (v.state.field(field) ? (v.dispatch({ effects: setSig.of(null) }), true) : false) }])];
    }
}

/** The start of the argument list around pos (the offset of its '('), or null. */
function argListAt(state: EditorState, pos: number): number | null {
    for (let n: ReturnType<typeof syntaxTree>['topNode'] | null = syntaxTree(state).resolveInner(pos, -1); n; n = n.parent) {
        if (n.name === 'ArgList') {
            const closed = state.doc.sliceString(n.to - 1, n.to) === ')';
            if (pos > n.from && (pos < n.to || !closed)) return n.from;
            return null;
        }
        if (n.name === 'Body' || n.name === 'Script') return null;
    }
    return null;
}

function renderSignature(sig: Signature): HTMLElement {
    const code = h('pre', { class: 'cm-lang-code' });
    const active = sig.active_param !== null ? sig.params[sig.active_param] : undefined;
    const at = active ? sig.label.indexOf(active, sig.label.indexOf('(')) : -1;
    if (active && at >= 0) code.append(sig.label.slice(0, at), h('strong', { class: 'cm-lang-active' }, active), sig.label.slice(at + active.length));
    else code.append(sig.label);
    const box = h('div', { class: 'cm-lang-card cm-lang-sig' }, code);
    const first = sig.doc.split(/\n\s*\n/)[0]?.trim();
    if (first) box.append(h('div', { class: 'cm-lang-doc' }, first.length > 400 ? `${first.slice(0, 399)}…` : first));
    return box;
}

/** A library's source, read-only, at the definition's line. */
async function showLibrary(module: string, text: string, line: number): Promise<void> {
    const host = h('div', { class: 'lang-library' });
    let view: EditorView | null = null;
    await dialog({
        title: `${module} (read-only)`,
        body: host,
        wide: true,
        buttons: [{ label: 'Close', value: true, kind: 'primary' }],
        onOpen: () => {
            view = new EditorView({ doc: text, parent: host, extensions: [baseExtensions({}, true), languageFor('x.py')] });
            const at = view.state.doc.line(Math.min(Math.max(line, 1), view.state.doc.lines)).from;
            view.dispatch({ selection: { anchor: at }, effects: EditorView.scrollIntoView(at, { y: 'start' }) });
        },
    });
    (view as EditorView | null)?.destroy();
}

/** `File "main.py", line 3` in a traceback (paths relative to the workspace: runs print them
 * so; the terminal prints /home/user/main.py, which is the same file). */
const FRAME = /File "(?:\/home\/user\/)?([^"/<][^"]*)", line (\d+)/g;
/** The same frames in a terminal: an xterm link provider's matcher. Returns, for one line
 * of terminal text, the ranges (0-based start, exclusive end, in UTF-16 units) to link. */
export function tracebackRanges(line: string): { start: number; end: number; path: string; line: number }[] {
    const out = [];
    for (const m of line.matchAll(FRAME)) out.push({ start: m.index ?? 0, end: (m.index ?? 0) + m[0].length, path: m[1], line: Number(m[2]) });
    return out;
}

/** The part of an xterm.js Terminal that linkTerminal uses (lang.ts does not load xterm). */
interface TermLike {
    buffer: { active: { getLine(y: number): { translateToString(trimRight?: boolean): string } | undefined } };
    registerLinkProvider(p: {
        provideLinks(y: number, cb: (links: { range: { start: { x: number; y: number }; end: { x: number; y: number } }; text: string; activate(e: MouseEvent, text: string): void }[] | undefined) => void): void;
    }): { dispose(): void };
}

/** Makes traceback frames in a terminal clickable (xterm shows them underlined on hover). */
export function linkTerminal(term: TermLike, open: (path: string, line: number) => void): void {
    term.registerLinkProvider({
        provideLinks(y, cb) {
            const text = term.buffer.active.getLine(y - 1)?.translateToString(true) ?? '';
            const links = tracebackRanges(text).filter((r) => !r.path.startsWith('/')).map((r) => ({
                range: { start: { x: r.start + 1, y }, end: { x: r.end, y } },
                text: text.slice(r.start, r.end),
                activate: () => open(r.path, r.line),
            }));
            cb(links.length ? links : undefined);
        },
    });
}
