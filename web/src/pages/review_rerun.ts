// A reviewer's re-run of a submission: pick any runnable file of the snapshot (default: the
// submission's entry, shown), give stdin and optionally the expected output, run it in a
// fresh sandbox on the snapshot, and see pass or fail (docs/api.md, "Re-running a
// submission": trim ignores blanks at line ends and blank lines at the end; exact compares
// bytes).

import { messageOf, submissions as subApi, type Check, type Submission } from '../api';
import { clear, h, icon } from '../dom';
import { RunView } from '../runview';

const RUNNABLE = /\.(py|sh)$/;

export class RerunForm {
    readonly el: HTMLElement;
    private file: HTMLSelectElement;
    private stdin: HTMLTextAreaElement;
    private expected: HTMLTextAreaElement;
    private compare: HTMLSelectElement;
    private verdict: HTMLElement;
    private button: HTMLButtonElement;

    constructor(private s: Submission, private runView: RunView) {
        const files = (s.files ?? []).map((f) => f.path).filter((p) => RUNNABLE.test(p));
        const entry = s.entry ?? files[0] ?? '';
        this.file = h('select', { class: 'input', id: 'rerun-file', 'aria-label': 'File to run' },
            files.map((p) => h('option', { value: p, selected: p === entry }, p === entry ? `${p} (entry)` : p)));
        this.stdin = h('textarea', { class: 'input mono', id: 'rerun-stdin', rows: '2', placeholder: 'Typed into the program, then closed', 'aria-label': 'Standard input' });
        this.expected = h('textarea', { class: 'input mono', id: 'rerun-expected', rows: '2', placeholder: 'Optional: the output it should print', 'aria-label': 'Expected output' });
        this.compare = h('select', { class: 'input', id: 'rerun-compare', 'aria-label': 'How to compare' },
            h('option', { value: 'trim', selected: true }, 'Ignore blanks at line ends'),
            h('option', { value: 'exact' }, 'Exact bytes'));
        this.verdict = h('div', { class: 'check-verdict', id: 'check-verdict', role: 'status', hidden: true });
        this.button = h('button', { type: 'submit', class: 'btn btn-primary btn-small', id: 'rerun' }, icon('play'), h('span', null, 'Re-run'));
        this.el = h('form', { class: 'rerun-form', onsubmit: (e: Event) => { e.preventDefault(); void this.go(); } },
            h('label', { class: 'field' }, h('span', null, 'File'), this.file),
            h('label', { class: 'field' }, h('span', null, 'Input (stdin)'), this.stdin),
            h('label', { class: 'field' }, h('span', null, 'Expected output'), this.expected),
            h('div', { class: 'form-row' }, this.compare, this.button),
            this.verdict);
        if (!files.length) {
            this.button.disabled = true;
            this.file.append(h('option', { value: '' }, 'No runnable file'));
        }
    }

    private async go(): Promise<void> {
        this.button.disabled = true;
        this.verdict.hidden = true;
        const expected = this.expected.value;
        try {
            const r = await subApi.run(this.s.id, {
                entry: this.file.value,
                stdin: this.stdin.value,
                ...(expected ? { expected_output: expected, compare: this.compare.value as 'trim' | 'exact' } : {}),
            });
            await this.runView.stream(r);
            if (expected) this.show((await subApi.runCheck(this.s.id, r.id)).check);
        } catch (e) {
            this.runView.reset();
            this.runView.append('stderr', `${messageOf(e)}\n`);
        } finally {
            this.button.disabled = false;
        }
    }

    private show(c: Check | null): void {
        clear(this.verdict);
        if (!c || c.pass === null) return;
        this.verdict.className = `check-verdict banner ${c.pass ? 'banner-ok' : 'banner-err'}`;
        this.verdict.dataset.pass = String(c.pass);
        const d = c.difference;
        this.verdict.append(icon(c.pass ? 'check' : 'x'),
            h('div', null,
                h('strong', null, c.pass ? 'Pass: the output matches' : 'Fail'),
                c.reason ? h('span', { class: 'muted' }, ` · ${c.reason}`) : null,
                d ? h('dl', { class: 'check-diff' },
                    h('dt', null, `Line ${d.line}, expected`), h('dd', { class: 'mono' }, d.expected ?? '(no line)'),
                    h('dt', null, 'got'), h('dd', { class: 'mono' }, d.actual ?? '(no line)')) : null));
        this.verdict.hidden = false;
    }
}
