// The IDE's status bar: the open file's save state (and how many others need attention),
// cursor position, line endings and encoding (click to convert), language, the problems
// count (owned by Lang) and the run limits. It reads the file store and the editor; it
// changes nothing but a file's line endings, and only when asked.

import type { Limits } from '../api';
import { clear, dialog, fmtBytes, fmtMs, h, icon } from '../dom';
import type { EditorView } from '../editor';
import { EOL_NAME, FileStore, SAVE_LABEL, type Eol, type OpenFile } from './files';

export interface StatusHooks {
    /** The file shown in the editor, if it is a text file. */
    active(): OpenFile | undefined;
    view(): EditorView | null;
}

export class StatusBar {
    readonly el: HTMLElement;
    private save: HTMLElement;
    private cursor: HTMLElement;
    private lang: HTMLElement;
    private eol: HTMLButtonElement;
    private limits: HTMLElement;

    constructor(private store: FileStore, private hooks: StatusHooks, problems: HTMLElement) {
        this.save = h('span', { class: 'sb-item sb-save', role: 'status', 'aria-live': 'polite' });
        this.cursor = h('span', { class: 'sb-item' });
        this.lang = h('span', { class: 'sb-item' });
        this.eol = h('button', { type: 'button', class: 'sb-item sb-button sb-eol', hidden: true, onclick: () => void this.convertEol() });
        this.limits = h('span', { class: 'sb-item sb-limits' });
        this.el = h('footer', { class: 'statusbar' }, this.save, h('span', { class: 'sb-spacer' }), problems, this.cursor,
            h('span', { class: 'sb-item sb-tabhint' }, 'Esc then Tab leaves the editor'),
            h('span', { class: 'sb-item', title: 'Tab indents by 4 spaces. To move the focus out of the editor with the keyboard, press Esc, then Tab.' }, 'Spaces: 4'),
            this.eol, this.lang, this.limits);
    }

    /** Adds an item on the left, after the save state (presence's chips). */
    addLeft(el: HTMLElement): void {
        this.save.after(el);
    }

    /** The language item: 'Python', 'Plain text', 'Image', 'Binary'. */
    setLanguage(text: string): void {
        this.lang.textContent = text;
    }

    /** A preview (image, binary file) has no save state or cursor. */
    showPreview(kind: 'Image' | 'Binary'): void {
        this.lang.textContent = kind;
        this.save.textContent = '';
        this.cursor.textContent = '';
    }

    showSave(): void {
        const f = this.hooks.active();
        this.showEol(f);
        clear(this.save);
        let others = 0;
        let offline = false;
        for (const o of this.store.open.values()) {
            if (o !== f && (o.status === 'offline' || o.status === 'error' || o.status === 'conflict')) others++;
            if (o.status === 'offline') offline = true;
        }
        if (!f) {
            this.save.className = 'sb-item sb-save';
            this.save.append(others ? `${others} file(s) need attention` : '');
            return;
        }
        const st = f.status;
        this.save.className = `sb-item sb-save save-${st}`;
        this.save.dataset.state = st;
        const ic = st === 'saved' ? icon('check') : st === 'saving' ? h('span', { class: 'spinner small', 'aria-hidden': 'true' }) : h('span', { class: 'sb-dot', 'aria-hidden': 'true' });
        this.save.append(ic, h('span', null, SAVE_LABEL[st]));
        if (f.message && (st === 'offline' || st === 'error')) {
            this.save.title = f.message;
            this.save.append(h('span', { class: 'sb-msg' }, `— ${f.message}`));
            if (st === 'error') this.save.append(h('button', { type: 'button', class: 'link', onclick: () => void this.store.save(f) }, 'Retry'));
        } else this.save.title = '';
        if (others) this.save.append(h('span', { class: 'sb-msg' }, ` · ${others} other file(s) need attention`));
        document.body.classList.toggle('is-offline', offline);
    }

    showCursor(): void {
        const view = this.hooks.view();
        if (!view || !this.hooks.active()) {
            this.cursor.textContent = '';
            return;
        }
        const s = view.state;
        const pos = s.selection.main.head;
        const line = s.doc.lineAt(pos);
        const sel = s.selection.main.to - s.selection.main.from;
        this.cursor.textContent = `Ln ${line.number}, Col ${pos - line.from + 1}${sel ? ` (${sel} selected)` : ''}`;
    }

    showLimits(limits: Limits): void {
        const l = limits.run;
        this.limits.textContent = `Limits: ${fmtMs(l.wall_ms)} · ${fmtBytes(l.memory_bytes)}`;
        this.limits.title = `Each run: wall time ${fmtMs(l.wall_ms)}, CPU time ${fmtMs(l.cpu_ms)}, memory ${fmtBytes(l.memory_bytes)}, ${l.pids} processes, output ${fmtBytes(l.output_bytes)}`;
    }

    private showEol(f: OpenFile | undefined): void {
        this.eol.hidden = !f || f.status === 'conflict';
        if (!f) return;
        this.eol.textContent = `${f.bom ? 'UTF-8 BOM' : 'UTF-8'} · ${EOL_NAME[f.eol]}`;
        this.eol.title = `Line endings: ${EOL_NAME[f.eol]}. Click to convert.`;
        this.eol.dataset.eol = EOL_NAME[f.eol];
    }

    /** Converts the open file's line endings, on request only (files are kept byte-exact). */
    private async convertEol(): Promise<void> {
        const f = this.hooks.active();
        if (!f) return;
        const choices: Eol[] = ['\n', '\r\n'];
        const to = await dialog<Eol>({
            title: 'Line endings',
            body: h('p', null, `${f.path} uses ${EOL_NAME[f.eol]} line endings${f.eol === '\r\n' ? ' (Windows)' : f.eol === '\n' ? ' (Linux, macOS)' : ''}. It is saved with them unless you convert it.`),
            buttons: [
                { label: 'Cancel', value: null as unknown as Eol },
                ...choices.filter((c) => c !== f.eol).map((c) => ({ label: `Convert to ${EOL_NAME[c]}`, value: c, kind: 'primary' as const })),
            ],
        });
        if (!to) return;
        this.store.setEol(f, to);
        this.showEol(f);
    }
}
