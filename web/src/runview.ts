// Shows one run: output streaming as it comes (Server-Sent Events) into an OutputPane (a
// small read-only terminal: ANSI colours, "\r" progress lines, painted once per frame,
// capped), then a status line (exit status or limit hit, wall time, CPU time, peak memory) and the
// figures the program saved, inline. Used by the IDE's output panel and the review view.

import { runs as runsApi, type Run, type RunTimings } from './api';
import { clear, fmtBytes, fmtMs, h, icon } from './dom';
import { OutputPane, type Stream } from './output';

const LIMIT_TEXT: Record<string, string> = {
    wall_time: 'Wall time limit reached',
    idle: 'Idle limit reached: waited too long for input',
    cpu_time: 'CPU time limit reached',
    memory: 'Memory limit reached',
    pids: 'Process limit reached',
    output: 'Output limit reached',
    disk: 'Disk limit reached',
};

/** A finished run's phases as "queue 0 ms · prepare 3 ms · ..." (docs/runs.md); "" if none. */
export function timingsText(t: RunTimings | undefined): string {
    if (!t) return '';
    const names: [keyof RunTimings, string][] = [
        ['queue_ms', 'queue'], ['prepare_ms', 'prepare'], ['start_ms', 'start'],
        ['program_ms', 'program'], ['exit_ms', 'exit'], ['collect_ms', 'collect'],
    ];
    return names.filter(([k]) => t[k] !== null && t[k] !== undefined)
        .map(([k, label]) => `${label} ${fmtMs(t[k] as number)}`).join(' · ');
}

export function finished(r: Run): boolean {
    return r.status !== 'queued' && r.status !== 'running';
}

export function runSummary(r: Run): { text: string; kind: 'ok' | 'err' | 'warn' | 'run' } {
    switch (r.status) {
        case 'queued': return { text: 'Queued', kind: 'run' };
        case 'running': return { text: 'Running', kind: 'run' };
        case 'ok': return { text: 'Exit 0', kind: 'ok' };
        case 'error':
            if (r.signal) return { text: `Killed by signal ${r.signal}`, kind: 'err' };
            return { text: `Exit ${r.exit_code ?? '?'}`, kind: 'err' };
        case 'limit': return { text: LIMIT_TEXT[r.limit_hit ?? ''] ?? 'Limit reached', kind: 'warn' };
        case 'cancelled': return { text: 'Stopped', kind: 'warn' };
        case 'failed': return { text: 'Could not run', kind: 'err' };
        default: return { text: String(r.status), kind: 'warn' };
    }
}

/** Said under pip's PEP 668 refusal ("externally-managed-environment"), which talks of apt,
 *  venvs and pipx: none of which a user of this server can or needs to do. */
export const PIP_HINT =
    'Installing packages is not possible here: programs run with the Python packages installed on this server ' +
    '(run "pip list" in the terminal to see them). To get another one, ask an administrator to install it on the server.';

export class RunView {
    readonly el: HTMLElement;
    readonly output: OutputPane;
    private status: HTMLElement;
    private figures: HTMLElement;
    private source: EventSource | null = null;
    /** Bumped by reset(): a verdict waiting for the output to be painted is then dropped. */
    private gen = 0;
    private ticker = 0;
    private placeholder: HTMLElement;
    private scroller: HTMLElement;
    /** The program ran `pip install`, which Debian's Python refuses (PEP 668). */
    private pipRefused = false;
    constructor(emptyText = 'Press Run to execute the program. Output appears here.') {
        this.placeholder = h('div', { class: 'run-empty' }, emptyText);
        this.output = new OutputPane(() => this.scroller);
        this.status = h('div', { class: 'run-status', role: 'status' });
        this.figures = h('div', { class: 'run-figures' });
        // Output and figures scroll together (like a notebook cell); the status stays in view.
        this.scroller = h('div', { class: 'run-scroll' }, this.output.el, this.figures);
        this.el = h('div', { class: 'run-view' }, this.placeholder, this.scroller, this.status);
        this.scroller.hidden = true;
    }

    dispose(): void {
        this.source?.close();
        clearInterval(this.ticker);
    }

    reset(): void {
        this.gen++;
        this.source?.close();
        this.source = null;
        clearInterval(this.ticker);
        this.output.clear();
        this.pipRefused = false;
        clear(this.figures);
        clear(this.status);
        this.placeholder.hidden = true;
        this.scroller.hidden = false;
    }

    append(stream: Stream, text: string): void {
        if (stream === 'stderr' && text.includes('externally-managed-environment')) this.pipRefused = true;
        this.output.write(stream, text);
    }

    /** The verdict of a finished run, once its output is on screen (a flood is painted over
     *  several frames); a running one at once. */
    private showStatus(r: Run): void {
        if (!finished(r)) return this.paintStatus(r);
        const gen = this.gen;
        void this.output.drained().then(() => {
            if (gen !== this.gen) return;
            this.paintStatus(r);
            this.showFigures(r);
        });
    }

    private paintStatus(r: Run): void {
        clear(this.status);
        clearInterval(this.ticker);
        const s = runSummary(r);
        this.status.className = `run-status run-status-${s.kind}`;
        this.status.dataset.status = r.status;
        const ic = s.kind === 'ok' ? 'check' : s.kind === 'run' ? null : 'x';
        if (!finished(r)) {
            const started = Date.parse(r.created_at) || Date.now();
            const t = h('span', { class: 'run-clock' }, '');
            const tick = () => (t.textContent = fmtMs(Math.max(0, Date.now() - started)));
            tick();
            this.ticker = window.setInterval(tick, 100);
            this.status.append(h('span', { class: 'spinner', 'aria-hidden': 'true' }), h('strong', null, `${s.text} ${r.entry}`), t);
            return;
        }
        if (ic) this.status.append(icon(ic));
        this.status.append(h('strong', { class: 'run-verdict', title: s.text }, s.text));
        const fig = (label: string, value: string) => h('span', { class: 'run-fig' }, h('span', { class: 'muted' }, label), ' ', value);
        if (r.wall_ms !== null && r.wall_ms !== undefined) this.status.append(fig('wall', fmtMs(r.wall_ms)));
        if (r.cpu_ms !== null && r.cpu_ms !== undefined) this.status.append(fig('cpu', fmtMs(r.cpu_ms)));
        const phases = timingsText(r.timings);
        if (phases) this.status.append(h('span', { class: 'run-fig run-timings', title: `Where the time went: ${phases}` }, h('span', { class: 'muted' }, 'phases'), ' ', phases));
        if (r.peak_memory_bytes) this.status.append(fig('mem', fmtBytes(r.peak_memory_bytes)));
        if (r.warm) this.status.append(h('span', { class: 'run-fig muted', title: 'Python was already started and waiting (the warm pool), so the run began sooner' }, 'fast start'));
        if (r.status === 'failed' && r.reason) this.append('info', `\n${r.reason}\n`);
        const notes: string[] = [];
        if (r.stdout_truncated) notes.push('stdout was cut at the output limit');
        if (r.stderr_truncated) notes.push('stderr was cut at the output limit');
        if (notes.length) this.append('info', `\n[${notes.join('; ')}]\n`);
        if (this.pipRefused) this.append('info', `\n${PIP_HINT}\n`);
        this.output.flush(true); // the notes just written
    }

    private showFigures(r: Run): void {
        clear(this.figures);
        for (const a of r.artifacts ?? []) {
            const url = runsApi.artifactUrl(r.id, a.name);
            if (a.content_type.startsWith('image/')) {
                this.figures.append(h('figure', { class: 'run-figure' },
                    h('img', { src: url, alt: `Figure ${a.name}`, loading: 'lazy' }),
                    h('figcaption', null, h('a', { href: url, download: a.name }, a.name), ` · ${fmtBytes(a.size)}`)));
            } else {
                this.figures.append(h('div', { class: 'run-artifact' }, icon('file'), h('a', { href: url, download: a.name }, a.name), ` · ${fmtBytes(a.size)}`));
            }
        }
    }

    /** Shows a finished run (from history or a submission) in full. */
    show(r: Run): void {
        this.reset();
        if (!r.stdout && !r.stderr && finished(r)) this.append('info', '(no output)\n');
        if (r.stdout) this.append('stdout', r.stdout);
        if (r.stderr) this.append('stderr', r.stderr);
        this.notices(r.notices);
        this.showStatus(r);
    }

    /** The write-back's notices (files kept or skipped), one line each. */
    private notices(text: string | null | undefined): void {
        if (text && text.trim()) this.append('info', `\n[${text.trim()}]\n`);
    }

    /** Streams a run that was just started; resolves with the finished RUN. */
    stream(r: Run): Promise<Run> {
        this.reset();
        this.showStatus(r);
        return new Promise((resolve) => {
            let done = false;
            let got = false;
            /** Whether the notices came as an event (else the finished record has them). */
            let noticed = false;
            const finish = (fin: Run) => {
                if (done) return;
                done = true;
                this.source?.close();
                this.source = null;
                if (!got && (fin.stdout || fin.stderr)) {
                    if (fin.stdout) this.append('stdout', fin.stdout);
                    if (fin.stderr) this.append('stderr', fin.stderr);
                } else if (!got) {
                    this.append('info', '(no output)\n');
                }
                if (!noticed) this.notices(fin.notices);
                this.showStatus(fin);
                void this.output.drained().then(() => resolve(fin));
            };
            const poll = async () => {
                // The stream broke: ask for the run until it has finished.
                for (let i = 0; !done && i < 600; i++) {
                    try {
                        const cur = await runsApi.get(r.id);
                        if (finished(cur)) {
                            got = false;
                            noticed = false;
                            this.reset();
                            return finish(cur);
                        }
                    } catch {
                        /* keep trying */
                    }
                    await new Promise((res) => setTimeout(res, 500));
                }
            };
            const es = new EventSource(runsApi.eventsUrl(r.id));
            this.source = es;
            let shown = r;
            const chunk = (stream: 'stdout' | 'stderr') => (ev: MessageEvent) => {
                got = true;
                if (shown.status === 'queued') {
                    // Output means it left the queue.
                    shown = { ...shown, status: 'running' };
                    this.showStatus(shown);
                }
                try {
                    this.append(stream, (JSON.parse(ev.data) as { data: string }).data);
                } catch {
                    this.append(stream, ev.data);
                }
            };
            es.addEventListener('stdout', chunk('stdout') as EventListener);
            es.addEventListener('stderr', chunk('stderr') as EventListener);
            es.addEventListener('notice', ((ev: MessageEvent) => {
                let text = ev.data;
                try {
                    text = (JSON.parse(ev.data) as { data: string }).data;
                } catch {
                    /* plain text */
                }
                noticed = true;
                this.notices(String(text));
            }) as EventListener);
            es.addEventListener('result', ((ev: MessageEvent) => {
                try {
                    finish(JSON.parse(ev.data) as Run);
                } catch {
                    void poll();
                }
            }) as EventListener);
            es.onerror = () => {
                if (done) return;
                es.close();
                void poll();
            };
        });
    }
}
