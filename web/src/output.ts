// A run's output as a small read-only terminal. Theory of operation:
//
// Bytes arrive in chunks (stdout, stderr, notes of ours). write() only updates a model: the
// lines finished since the last paint and the line being written, as styled segments. ANSI
// escapes are interpreted (SGR colours and attributes, erase-in-line, cursor column moves;
// the rest are dropped), and "\r" moves back to the line start so progress bars (tqdm, pip)
// overwrite themselves as in a terminal. The DOM is touched once per animation frame, so a
// flood of output costs one bounded layout per frame, not one per chunk. At most MAX_LINES lines
// and MAX_CHARS characters stay in the page; older ones are dropped with a note. Lines are
// grouped in blocks that the browser skips while off screen (content-visibility). A Python
// traceback's `File "...", line N` becomes a link when the owner gives onLocation.
//
// Strings are only ever put in text nodes; colours from escapes become class names or
// numeric rgb() values, never text from the program.

import { h } from './dom';

export type Stream = 'stdout' | 'stderr' | 'stdin' | 'info';

export const MAX_LINES = 5000;
const MAX_CHARS = 2 * 1024 * 1024;
/** A line longer than this is broken (as a terminal wraps) so no text node grows without end. */
const MAX_LINE = 16384;
const BLOCK_LINES = 50;
/** Characters of finished lines painted per frame. */
const FRAME_CHARS = 16 * 1024;

interface Seg {
    text: string;
    cls: string;
    css: string;
}
interface Line {
    segs: Seg[];
    len: number;
}
interface Sgr {
    fg: string;
    bg: string;
    fgCss: string;
    bgCss: string;
    bold: boolean;
    dim: boolean;
    italic: boolean;
    underline: boolean;
    inverse: boolean;
}

const plain = (): Sgr => ({ fg: '', bg: '', fgCss: '', bgCss: '', bold: false, dim: false, italic: false, underline: false, inverse: false });

/** xterm's 256-colour palette entry n (16..255) as rgb(). */
function color256(n: number): string {
    if (n >= 232) {
        const v = 8 + (n - 232) * 10;
        return `rgb(${v},${v},${v})`;
    }
    const i = n - 16;
    const lv = (x: number) => (x ? 55 + x * 40 : 0);
    return `rgb(${lv(Math.floor(i / 36))},${lv(Math.floor(i / 6) % 6)},${lv(i % 6)})`;
}

const byte = (s: string | undefined) => Math.max(0, Math.min(255, Number(s) || 0));

function applySgr(st: Sgr, params: string): void {
    const p = params === '' ? ['0'] : params.split(';');
    for (let i = 0; i < p.length; i++) {
        const n = Number(p[i] || 0);
        if (n === 0) Object.assign(st, plain());
        else if (n === 1) st.bold = true;
        else if (n === 2) st.dim = true;
        else if (n === 3) st.italic = true;
        else if (n === 4) st.underline = true;
        else if (n === 7) st.inverse = true;
        else if (n === 22) st.bold = st.dim = false;
        else if (n === 23) st.italic = false;
        else if (n === 24) st.underline = false;
        else if (n === 27) st.inverse = false;
        else if ((n >= 30 && n <= 37) || (n >= 90 && n <= 97)) {
            st.fg = String(n >= 90 ? n - 90 + 8 : n - 30);
            st.fgCss = '';
        } else if (n === 39) st.fg = st.fgCss = '';
        else if ((n >= 40 && n <= 47) || (n >= 100 && n <= 107)) {
            st.bg = String(n >= 100 ? n - 100 + 8 : n - 40);
            st.bgCss = '';
        } else if (n === 49) st.bg = st.bgCss = '';
        else if (n === 38 || n === 48) {
            let css = '';
            if (p[i + 1] === '5') {
                const c = byte(p[i + 2]);
                i += 2;
                if (c < 16) {
                    if (n === 38) (st.fg = String(c)), (st.fgCss = '');
                    else (st.bg = String(c)), (st.bgCss = '');
                    continue;
                }
                css = color256(c);
            } else if (p[i + 1] === '2') {
                css = `rgb(${byte(p[i + 2])},${byte(p[i + 3])},${byte(p[i + 4])})`;
                i += 4;
            } else continue;
            if (n === 38) (st.fg = ''), (st.fgCss = css);
            else (st.bg = ''), (st.bgCss = css);
        }
    }
}

function styleOf(stream: Stream, st: Sgr): { cls: string; css: string } {
    let cls = `out-${stream}`;
    let { fg, bg, fgCss, bgCss } = st;
    if (st.inverse) {
        // Swapped colours; with none set, .ansi-inverse paints the default ones swapped.
        [fg, bg, fgCss, bgCss] = [bg, fg, bgCss, fgCss];
        cls += ' ansi-inverse';
    }
    if (fg) cls += ` ansi-fg-${fg}`;
    if (bg) cls += ` ansi-bg-${bg}`;
    if (st.bold) cls += ' ansi-bold';
    if (st.dim) cls += ' ansi-dim';
    if (st.italic) cls += ' ansi-italic';
    if (st.underline) cls += ' ansi-underline';
    let css = '';
    if (fgCss) css += `color:${fgCss};`;
    if (bgCss) css += `background:${bgCss};`;
    return { cls, css };
}

/** Where a traceback line points: `File "/home/user/pkg/x.py", line 12`. */
const LOCATION = /File "([^"]+)", line (\d+)/;

export class OutputPane {
    readonly el: HTMLPreElement;
    /** Called when a traceback location is clicked (path relative to the workspace). */
    onLocation: ((path: string, line: number) => void) | null = null;

    private dropped: HTMLElement;
    private droppedLines = 0;
    /** Lines finished since the last paint. */
    private done: Line[] = [];
    private cur: Line = { segs: [], len: 0 };
    private col = 0;
    private curDirty = false;
    private curEl: HTMLElement | null = null;
    private blocks: HTMLElement[] = [];
    /** Characters of each line in the page, oldest first (for the caps). */
    private lens: number[] = [];
    private lensHead = 0;
    private chars = 0;
    private sgr: Record<Stream, Sgr> = { stdout: plain(), stderr: plain(), stdin: plain(), info: plain() };
    /** An escape sequence cut by a chunk boundary, per stream. */
    private partial: Record<Stream, string> = { stdout: '', stderr: '', stdin: '', info: '' };
    private frame = 0;
    private waiting: (() => void)[] = [];
    /** Called before the page changes, with whether it is scrolled to the end. */
    constructor(private scroller: () => HTMLElement) {
        this.dropped = h('div', { class: 'out-dropped', hidden: true });
        this.el = h('pre', { class: 'run-output', tabindex: '0', 'aria-label': 'Program output', 'aria-live': 'off' }, this.dropped);
        // Lines are blocks that end in "\n": copy the text as written, not one extra newline
        // per block as the browser's own serialisation would.
        this.el.addEventListener('copy', (e) => {
            const sel = getSelection();
            if (!sel || sel.isCollapsed || !e.clipboardData) return;
            let text = '';
            for (let i = 0; i < sel.rangeCount; i++) text += sel.getRangeAt(i).cloneContents().textContent ?? '';
            e.clipboardData.setData('text/plain', text);
            e.preventDefault();
        });
        this.el.addEventListener('click', (e) => {
            const a = (e.target as Element).closest?.('a.out-loc') as HTMLAnchorElement | null;
            if (!a || !this.onLocation) return;
            e.preventDefault();
            this.onLocation(a.dataset.path!, Number(a.dataset.line));
        });
    }

    clear(): void {
        cancelAnimationFrame(this.frame);
        this.frame = 0;
        for (const b of this.blocks) b.remove();
        this.blocks = [];
        this.done = [];
        this.cur = { segs: [], len: 0 };
        this.col = 0;
        this.curDirty = false;
        this.curEl = null;
        this.lens = [];
        this.lensHead = 0;
        this.chars = 0;
        this.droppedLines = 0;
        this.dropped.hidden = true;
        for (const res of this.waiting.splice(0)) res();
        for (const s of Object.keys(this.sgr) as Stream[]) {
            this.sgr[s] = plain();
            this.partial[s] = '';
        }
    }

    /** Everything shown, as plain text (no escapes). */
    text(): string {
        this.flush(true);
        return this.el.textContent ?? '';
    }

    write(stream: Stream, data: string): void {
        if (!data) return;
        let s = this.partial[stream] + data;
        this.partial[stream] = '';
        const st = this.sgr[stream];
        let style = styleOf(stream, st);
        let i = 0;
        while (i < s.length) {
            // The longest run of ordinary characters.
            let j = i;
            while (j < s.length) {
                const c = s.charCodeAt(j);
                if (c === 10 || c === 13 || c === 8 || c === 27) break;
                j++;
            }
            if (j > i) this.put(s.slice(i, j), style);
            if (j >= s.length) break;
            const c = s.charCodeAt(j);
            if (c === 10) {
                this.newline();
                i = j + 1;
            } else if (c === 13) {
                // "\r\n" is a newline; a lone "\r" returns to the line start.
                if (j + 1 < s.length && s.charCodeAt(j + 1) === 10) {
                    this.newline();
                    i = j + 2;
                } else {
                    this.col = 0;
                    i = j + 1;
                }
            } else if (c === 8) {
                this.col = Math.max(0, this.col - 1);
                i = j + 1;
            } else {
                const end = this.escape(s, j, st);
                if (end < 0) {
                    // Incomplete: keep it for the next chunk (bounded, in case it never ends).
                    if (s.length - j < 64) this.partial[stream] = s.slice(j);
                    break;
                }
                style = styleOf(stream, st);
                i = end;
            }
        }
        s = '';
        this.schedule();
    }

    /** Parses the escape at s[j] (ESC); returns the index after it, or -1 if cut short. */
    private escape(s: string, j: number, st: Sgr): number {
        if (j + 1 >= s.length) return -1;
        const kind = s[j + 1];
        if (kind === '[') {
            let k = j + 2;
            while (k < s.length && /[0-9;?<=>]/.test(s[k])) k++;
            if (k >= s.length) return -1;
            const params = s.slice(j + 2, k);
            const fin = s[k];
            const n = Number(params.split(';')[0]) || 0;
            if (fin === 'm') applySgr(st, params.replace(/[?<=>]/g, ''));
            else if (fin === 'K') this.eraseLine(n);
            else if (fin === 'G') this.col = Math.max(0, (n || 1) - 1);
            else if (fin === 'C') this.col += n || 1;
            else if (fin === 'D') this.col = Math.max(0, this.col - (n || 1));
            return k + 1;
        }
        if (kind === ']') {
            // OSC (titles, hyperlinks): ends with BEL or ESC \.
            for (let k = j + 2; k < s.length; k++) {
                if (s.charCodeAt(k) === 7) return k + 1;
                if (s.charCodeAt(k) === 27 && s[k + 1] === '\\') return k + 2;
            }
            return -1;
        }
        return j + 2; // a two-character escape: ignored
    }

    private eraseLine(mode: number): void {
        const line = this.cur;
        if (mode === 2) {
            this.cur = { segs: [], len: 0 };
        } else if (mode === 0) {
            this.cur = { segs: slice(line, 0, this.col), len: Math.min(line.len, this.col) };
        } else if (mode === 1) {
            const blank = { text: ' '.repeat(Math.min(this.col, line.len)), cls: 'out-stdout', css: '' };
            this.cur = { segs: [blank, ...slice(line, this.col, line.len)], len: line.len };
        }
        this.curDirty = true;
    }

    /** Writes text at the cursor, overwriting what a "\r" left under it. */
    private put(text: string, style: { cls: string; css: string }): void {
        while (text) {
            const room = MAX_LINE - this.col;
            if (room <= 0) {
                this.newline();
                continue;
            }
            const part = text.length > room ? text.slice(0, room) : text;
            text = text.slice(part.length);
            const line = this.cur;
            if (this.col > line.len) {
                line.segs.push({ text: ' '.repeat(this.col - line.len), cls: 'out-stdout', css: '' });
                line.len = this.col;
            }
            if (this.col === line.len) {
                const last = line.segs[line.segs.length - 1];
                if (last && last.cls === style.cls && last.css === style.css) last.text += part;
                else line.segs.push({ text: part, cls: style.cls, css: style.css });
                line.len += part.length;
            } else {
                const end = this.col + part.length;
                line.segs = [...slice(line, 0, this.col), { text: part, cls: style.cls, css: style.css }, ...slice(line, end, line.len)];
                line.len = Math.max(line.len, end);
            }
            this.col += part.length;
            this.curDirty = true;
        }
    }

    private newline(): void {
        this.done.push(this.cur);
        this.cur = { segs: [], len: 0 };
        this.col = 0;
        this.curDirty = true;
        // A flood between two frames: only the last MAX_LINES can ever be shown.
        if (this.done.length > MAX_LINES * 2) {
            const cut = this.done.length - MAX_LINES;
            this.done.splice(0, cut);
            this.droppedLines += cut;
        }
    }

    private schedule(): void {
        if (!this.frame) this.frame = requestAnimationFrame(() => this.flush());
    }

    /** Resolves once everything written so far is on screen. */
    drained(): Promise<void> {
        if (!this.done.length && !this.curDirty) return Promise.resolve();
        return new Promise((res) => this.waiting.push(res));
    }

    /** Paints what the model holds: at most FRAME_CHARS of finished lines per call (laying
     *  out a megabyte at once would freeze the tab), the rest in the next frames; all of it
     *  when `all` (small tails, or before reading the text). */
    flush(all = false): void {
        cancelAnimationFrame(this.frame);
        this.frame = 0;
        if (!this.done.length && !this.curDirty) return;
        const sc = this.scroller();
        const stick = sc.scrollHeight - sc.scrollTop - sc.clientHeight < 24;
        // The line being written is repainted; finished lines are appended once.
        this.curEl?.remove();
        if (this.curEl) this.forgetLast();
        this.curEl = null;
        if (this.done.length > MAX_LINES) {
            this.droppedLines += this.done.length - MAX_LINES;
            this.done.splice(0, this.done.length - MAX_LINES);
        }
        let budget = all ? Infinity : FRAME_CHARS;
        let n = 0;
        while (n < this.done.length && budget > 0) {
            const line = this.done[n++];
            this.add(this.render(line, true));
            budget -= line.len + 1;
        }
        this.done.splice(0, n);
        if (!this.done.length) {
            if (this.cur.len) {
                this.curEl = this.render(this.cur, false);
                this.add(this.curEl);
            }
            this.curDirty = false;
        }
        this.trim();
        if (stick) sc.scrollTop = sc.scrollHeight;
        if (this.done.length || this.curDirty) this.schedule();
        else for (const res of this.waiting.splice(0)) res();
    }

    private add(el: HTMLElement): void {
        let b = this.blocks[this.blocks.length - 1];
        if (!b || b.childElementCount >= BLOCK_LINES) {
            b = h('div', { class: 'out-block' });
            this.blocks.push(b);
            this.el.append(b);
        }
        b.append(el);
        const n = el.textContent!.length;
        this.lens.push(n);
        this.chars += n;
    }

    private forgetLast(): void {
        this.chars -= this.lens.pop() ?? 0;
        const b = this.blocks[this.blocks.length - 1];
        if (b && !b.firstChild) {
            b.remove();
            this.blocks.pop();
        }
    }

    private trim(): void {
        let cut = 0;
        while (this.lens.length - this.lensHead > MAX_LINES || (this.chars > MAX_CHARS && this.lens.length - this.lensHead > 1)) {
            this.chars -= this.lens[this.lensHead++];
            const b = this.blocks[0];
            b.firstChild?.remove();
            if (!b.firstChild) {
                b.remove();
                this.blocks.shift();
            }
            cut++;
        }
        if (this.lensHead > 4096) {
            this.lens = this.lens.slice(this.lensHead);
            this.lensHead = 0;
        }
        if (cut) this.droppedLines += cut;
        if (this.droppedLines) {
            this.dropped.hidden = false;
            this.dropped.textContent = `${this.droppedLines.toLocaleString()} earlier line${this.droppedLines === 1 ? '' : 's'} not shown (the page keeps the last ${MAX_LINES.toLocaleString()})`;
        }
    }

    private render(line: Line, finished: boolean): HTMLElement {
        const el = h('span', { class: 'out-line' });
        // A traceback location becomes a link: split the segments around it.
        let loc: { a: number; b: number; path: string; line: number } | null = null;
        if (this.onLocation) {
            const text = line.segs.map((s) => s.text).join('');
            const m = LOCATION.exec(text);
            if (m) {
                const path = m[1].startsWith('/home/user/') ? m[1].slice('/home/user/'.length) : m[1].startsWith('/') ? '' : m[1];
                if (path) loc = { a: m.index, b: m.index + m[0].length, path, line: Number(m[2]) };
            }
        }
        const span = (s: Seg) => {
            const e = h('span', { class: s.cls }, s.text);
            if (s.css) e.style.cssText = s.css;
            return e;
        };
        if (loc) {
            const link = h('a', { class: 'out-loc', href: '#', title: `Open ${loc.path} at line ${loc.line}`, dataset: { path: loc.path, line: String(loc.line) } });
            for (const s of slice(line, 0, loc.a)) el.append(span(s));
            for (const s of slice(line, loc.a, loc.b)) link.append(span(s));
            el.append(link);
            for (const s of slice(line, loc.b, line.len)) el.append(span(s));
        } else {
            for (const s of line.segs) el.append(span(s));
        }
        if (finished) el.append('\n');
        return el;
    }
}

/** The segments of line between columns a and b. */
function slice(line: Line, a: number, b: number): Seg[] {
    const out: Seg[] = [];
    let pos = 0;
    for (const s of line.segs) {
        const end = pos + s.text.length;
        const from = Math.max(a, pos);
        const to = Math.min(b, end);
        if (from < to) out.push({ text: s.text.slice(from - pos, to - pos), cls: s.cls, css: s.css });
        pos = end;
        if (pos >= b) break;
    }
    return out;
}
