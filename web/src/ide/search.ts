// Search across files (Ctrl+Shift+F): a panel above the file tree. Typing asks the server
// (GET /api/workspaces/{id}/search) after a short pause; matches are listed by file, the
// text found highlighted; a click (or Enter on a row) opens the file at that line.

import { files as filesApi, messageOf, type SearchHit } from '../api';
import { clear, fileIcon, h, icon } from '../dom';

export class SearchPanel {
    readonly el: HTMLElement;
    private input: HTMLInputElement;
    private matchCase: HTMLButtonElement;
    private results: HTMLElement;
    private summary: HTMLElement;
    private timer = 0;
    /** Bumped per query: an older answer arriving late is dropped. */
    private seq = 0;

    constructor(private ws: number, private open: (path: string, line: number) => void) {
        this.input = h('input', { class: 'input search-input', type: 'search', placeholder: 'Search in all files', 'aria-label': 'Search in all files', spellcheck: 'false' });
        this.input.addEventListener('input', () => this.soon());
        this.input.addEventListener('keydown', (e) => {
            if (e.key === 'Escape') this.hide();
            else if (e.key === 'Enter') {
                e.preventDefault();
                this.query();
            } else if (e.key === 'ArrowDown') {
                e.preventDefault();
                this.results.querySelector<HTMLElement>('.search-hit')?.focus();
            }
        });
        this.matchCase = h('button', { type: 'button', class: 'btn icon-only search-case', title: 'Match case', 'aria-label': 'Match case', 'aria-pressed': 'false', onclick: () => {
            this.matchCase.setAttribute('aria-pressed', String(this.matchCase.getAttribute('aria-pressed') !== 'true'));
            this.query();
        } }, 'Aa');
        this.summary = h('div', { class: 'search-summary muted', role: 'status', 'aria-live': 'polite' });
        this.results = h('div', { class: 'search-results' });
        this.el = h('section', { class: 'search-panel', 'aria-label': 'Search in all files', hidden: true },
            h('div', { class: 'pane-head' },
                h('span', { class: 'pane-title' }, 'Search'),
                h('div', { class: 'pane-tools' },
                    h('button', { type: 'button', class: 'btn icon-only', title: 'Close search (Esc)', 'aria-label': 'Close search', onclick: () => this.hide() }, icon('x')))),
            h('div', { class: 'search-box' }, this.input, this.matchCase),
            this.summary,
            this.results);
    }

    dispose(): void {
        clearTimeout(this.timer);
    }

    show(): void {
        this.el.hidden = false;
        this.input.focus();
        this.input.select();
    }

    hide(): void {
        this.el.hidden = true;
    }

    private soon(): void {
        clearTimeout(this.timer);
        this.timer = window.setTimeout(() => this.query(), 250);
    }

    private async query(): Promise<void> {
        clearTimeout(this.timer);
        const q = this.input.value;
        const seq = ++this.seq;
        if (!q.trim()) {
            clear(this.summary);
            clear(this.results);
            return;
        }
        const exact = this.matchCase.getAttribute('aria-pressed') === 'true';
        this.summary.textContent = 'Searching…';
        try {
            const r = await filesApi.search(this.ws, q, exact);
            if (seq !== this.seq) return;
            this.render(r.items, q, exact, r.truncated);
        } catch (e) {
            if (seq !== this.seq) return;
            this.summary.textContent = `Could not search: ${messageOf(e)}`;
            clear(this.results);
        }
    }

    private render(items: SearchHit[], q: string, exact: boolean, truncated: boolean): void {
        clear(this.results);
        const byFile = new Map<string, SearchHit[]>();
        for (const it of items) byFile.set(it.path, [...(byFile.get(it.path) ?? []), it]);
        const n = items.length;
        this.summary.textContent = n === 0 ? 'No results.'
            : `${n}${truncated ? '+' : ''} line${n === 1 ? '' : 's'} in ${byFile.size} file${byFile.size === 1 ? '' : 's'}${truncated ? ' (the first ones; refine the search)' : ''}`;
        for (const [path, hits] of byFile) {
            const name = path.slice(path.lastIndexOf('/') + 1);
            this.results.append(h('div', { class: 'search-file', title: path },
                fileIcon(name), h('span', { class: 'search-name' }, name),
                path.includes('/') ? h('span', { class: 'search-dir muted' }, path.slice(0, path.lastIndexOf('/'))) : null,
                h('span', { class: 'count' }, String(hits.length))));
            for (const it of hits) {
                const row = h('button', { type: 'button', class: 'search-hit', dataset: { path, line: String(it.line) }, onclick: () => this.open(path, it.line),
                    onkeydown: (e: KeyboardEvent) => {
                        const all = [...this.results.querySelectorAll<HTMLElement>('.search-hit')];
                        const i = all.indexOf(row);
                        if (e.key === 'ArrowDown') all[i + 1]?.focus();
                        else if (e.key === 'ArrowUp') (all[i - 1] ?? this.input).focus();
                        else if (e.key === 'Escape') this.hide();
                        else return;
                        e.preventDefault();
                    } },
                h('span', { class: 'search-line muted' }, String(it.line)), highlight(it.text.trimStart(), q, exact));
                this.results.append(row);
            }
        }
    }
}

/** The text with each occurrence of q marked (ASCII case ignored unless exact, like the server). */
function highlight(text: string, q: string, exact: boolean): HTMLElement {
    const out = h('span', { class: 'search-text' });
    const fold = (s: string) => (exact ? s : s.replace(/[A-Z]/g, (c) => c.toLowerCase()));
    const hay = fold(text);
    const needle = fold(q);
    let at = 0;
    for (let i = hay.indexOf(needle); needle && i >= 0; i = hay.indexOf(needle, i + needle.length)) {
        out.append(text.slice(at, i), h('mark', null, text.slice(i, i + needle.length)));
        at = i + needle.length;
    }
    out.append(text.slice(at));
    return out;
}
