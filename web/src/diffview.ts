// A unified diff as lines for a person: added, removed, hunk and file header lines each get
// their colour. Shared by the review page (resubmissions) and a file's history. The text is
// data: every line goes in as a text node, never as HTML.

import { h } from './dom';

export interface DiffText {
    diff: string | null;
    binary?: boolean;
    too_large?: boolean;
}

export function diffBody(d: DiffText): HTMLElement {
    const body = h('pre', { class: 'diff-body' });
    if (d.diff) {
        for (const line of d.diff.split('\n')) {
            const cls = line.startsWith('@@') ? 'd-hunk' : line.startsWith('+++') || line.startsWith('---') ? 'd-file' : line.startsWith('+') ? 'd-add' : line.startsWith('-') ? 'd-del' : '';
            body.append(h('div', { class: `d-line ${cls}` }, line || ' '));
        }
    } else {
        body.append(h('div', { class: 'd-line muted' }, d.binary ? 'Binary file.' : d.too_large ? 'Too large to compare.' : d.diff === '' ? 'No change.' : 'No text to show.'));
    }
    return body;
}
