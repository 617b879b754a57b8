// The conflict view: shown in place of the editor when the server's copy of a file changed
// while the user had unsaved edits (a stale etag on save, or a draft older than the server's
// version). Both versions side by side with changed lines marked; the user keeps one.

import { h } from '../dom';
import type { OpenFile } from './files';

/** Marks for each line of a and b: true where the line is not in their longest common subsequence. */
export function lineDiff(a: string[], b: string[]): { a: boolean[]; b: boolean[] } {
    const n = a.length;
    const m = b.length;
    // Trim the common head and tail, then LCS on the middle (bounded for huge files).
    let head = 0;
    while (head < n && head < m && a[head] === b[head]) head++;
    let tail = 0;
    while (tail < n - head && tail < m - head && a[n - 1 - tail] === b[m - 1 - tail]) tail++;
    const ma = a.slice(head, n - tail);
    const mb = b.slice(head, m - tail);
    const da = new Array<boolean>(n).fill(false);
    const db = new Array<boolean>(m).fill(false);
    if (ma.length * mb.length > 4_000_000) {
        for (let i = 0; i < ma.length; i++) da[head + i] = true;
        for (let j = 0; j < mb.length; j++) db[head + j] = true;
        return { a: da, b: db };
    }
    const w = mb.length + 1;
    const L = new Uint32Array((ma.length + 1) * w);
    for (let i = ma.length - 1; i >= 0; i--)
        for (let j = mb.length - 1; j >= 0; j--)
            L[i * w + j] = ma[i] === mb[j] ? L[(i + 1) * w + j + 1] + 1 : Math.max(L[(i + 1) * w + j], L[i * w + j + 1]);
    let i = 0;
    let j = 0;
    while (i < ma.length && j < mb.length) {
        if (ma[i] === mb[j]) {
            i++;
            j++;
        } else if (L[(i + 1) * w + j] >= L[i * w + j + 1]) {
            da[head + i++] = true;
        } else {
            db[head + j++] = true;
        }
    }
    while (i < ma.length) da[head + i++] = true;
    while (j < mb.length) db[head + j++] = true;
    return { a: da, b: db };
}

function side(title: string, sub: string, lines: string[], marks: boolean[], cls: string): HTMLElement {
    const body = h('div', { class: 'cf-code', tabindex: '0', 'aria-label': title });
    lines.forEach((line, i) => {
        body.append(h('div', { class: `cf-line ${marks[i] ? cls : ''}` }, h('span', { class: 'cf-no' }, String(i + 1)), h('span', { class: 'cf-text' }, line || ' ')));
    });
    return h('section', { class: 'cf-side' }, h('header', { class: 'cf-head' }, h('strong', null, title), h('span', { class: 'muted' }, sub)), body);
}

export function conflictView(f: OpenFile, act: { keepMine: () => void; useTheirs: () => void }): HTMLElement {
    const mine = f.state.doc.toString().split('\n');
    const theirs = (f.theirs?.text ?? '').replace(/^\ufeff/, '').split(/\r\n|\r|\n/);
    const d = lineDiff(theirs, mine);
    const changed = d.a.filter(Boolean).length + d.b.filter(Boolean).length;
    return h(
        'div',
        { class: 'conflict', role: 'region', 'aria-label': `Conflict in ${f.path}` },
        h('div', { class: 'banner banner-conflict', role: 'alert' },
            h('div', null,
                h('strong', null, `${f.path} was changed somewhere else while you were editing it.`),
                h('div', { class: 'muted' }, `Nothing has been overwritten. Choose the version to keep (${changed} line${changed === 1 ? '' : 's'} differ).`)),
            h('div', { class: 'banner-actions' },
                h('button', { type: 'button', class: 'btn', id: 'conflict-theirs', onclick: act.useTheirs }, 'Use the server\u2019s version'),
                h('button', { type: 'button', class: 'btn btn-primary', id: 'conflict-mine', onclick: act.keepMine }, 'Keep my version'))),
        h('div', { class: 'cf-sides' },
            side('On the server', 'the newer saved version', theirs, d.a, 'cf-del'),
            side('Yours', 'unsaved, kept in this browser', mine, d.b, 'cf-add')),
    );
}
