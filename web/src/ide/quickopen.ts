// Quick open (Ctrl+P): a modal list of the workspace's files filtered as one types (the
// letters in order, name matches first), arrows to choose, Enter to open, Escape to close.

import { fileIcon, h } from '../dom';

/** Score of path for query (letters in order, case-insensitive); -1 when it does not match. */
export function matchScore(path: string, query: string): number {
    if (!query) return 0;
    const p = path.toLowerCase();
    const q = query.toLowerCase();
    const name = p.slice(p.lastIndexOf('/') + 1);
    if (name.startsWith(q)) return 1000 - name.length;
    if (name.includes(q)) return 800 - name.length;
    if (p.includes(q)) return 600 - p.length;
    let i = 0;
    for (const c of p) if (c === q[i]) i++;
    return i === q.length ? 300 - p.length : -1;
}

export function quickOpen(paths: string[], open: (path: string) => void): void {
    const input = h('input', { class: 'input qo-input', type: 'text', placeholder: 'Go to file…', 'aria-label': 'File name', spellcheck: 'false', autocomplete: 'off' });
    const list = h('ul', { class: 'qo-list', role: 'listbox', 'aria-label': 'Files' });
    const d = h('dialog', { class: 'dialog qo', 'aria-label': 'Go to file' }, input, list);
    let shown: string[] = [];
    let sel = 0;
    const close = () => {
        d.close();
        d.remove();
    };
    const choose = (p: string | undefined) => {
        if (!p) return;
        close();
        open(p);
    };
    const render = () => {
        const q = input.value.trim();
        shown = paths.map((p) => ({ p, s: matchScore(p, q) })).filter((x) => x.s >= 0).sort((a, b) => b.s - a.s || a.p.localeCompare(b.p)).slice(0, 50).map((x) => x.p);
        sel = Math.min(sel, Math.max(0, shown.length - 1));
        list.replaceChildren(...shown.map((p, i) => {
            const slash = p.lastIndexOf('/');
            return h('li', { class: `qo-item ${i === sel ? 'selected' : ''}`, role: 'option', 'aria-selected': String(i === sel), dataset: { path: p }, onclick: () => choose(p) },
                fileIcon(p), h('span', { class: 'qo-name' }, p.slice(slash + 1)), slash > 0 ? h('span', { class: 'qo-dir' }, p.slice(0, slash)) : null);
        }));
        if (!shown.length) list.append(h('li', { class: 'qo-none' }, 'No file matches.'));
        list.querySelector('.selected')?.scrollIntoView({ block: 'nearest' });
    };
    input.addEventListener('input', () => {
        sel = 0;
        render();
    });
    input.addEventListener('keydown', (e) => {
        if (e.key === 'ArrowDown') sel = Math.min(sel + 1, shown.length - 1);
        else if (e.key === 'ArrowUp') sel = Math.max(sel - 1, 0);
        else if (e.key === 'Enter') return void (e.preventDefault(), choose(shown[sel]));
        else return;
        e.preventDefault();
        render();
    });
    d.addEventListener('cancel', (e) => {
        e.preventDefault();
        close();
    });
    d.addEventListener('click', (e) => {
        if (e.target === d) close(); // the backdrop
    });
    document.body.append(d);
    d.showModal();
    render();
    input.focus();
}
