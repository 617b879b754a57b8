// The IDE's run panel and its Run/Stop button: arguments and standard input (remembered per
// workspace), the streamed output (RunView), the line that answers input() while a program
// runs, and the history of the workspace's runs. A run first saves every open file.

import { messageOf, runs as runsApi, type Limits, type Run } from '../api';
import { clear, fmtAgo, fmtMs, h, icon, MOD, prefs, toast } from '../dom';
import { finished, RunView, runSummary } from '../runview';
import type { FileStore } from './files';

export interface RunHooks {
    /** The file in the editor ('' when none). */
    activePath(): string;
    /** The workspace's files. */
    paths(): Set<string>;
    /** A run starts: a narrow screen shows the output. */
    started(): void;
    /** A run ended: files the program wrote are shown. */
    ended(): void;
    /** The program no longer reads keys: they go back to the editor. */
    focusEditor(): void;
    /** A traceback's file:line was clicked. */
    openAt(path: string, line: number): void;
}

export class RunPanel {
    readonly el: HTMLElement;
    /** The top bar's Run/Stop button. */
    readonly button: HTMLButtonElement;
    private view: RunView;
    private stdin: HTMLTextAreaElement;
    private args: HTMLInputElement;
    private liveInput: HTMLElement;
    private liveField: HTMLInputElement;
    /** Under the input line: how long the program may wait for input. */
    private liveHint: HTMLElement;
    private wallMs = 0;
    private idleMs = 0;
    private history: HTMLElement;
    private outputTab: HTMLElement;
    private tabs: { output: HTMLButtonElement; history: HTMLButtonElement };
    /** The run in progress ({id: 0} while it is being started). */
    private current: Run | null = null;
    private disposed = false;

    constructor(private ws: number, private store: FileStore, private hooks: RunHooks) {
        this.view = new RunView();
        this.view.output.onLocation = (path, line) => hooks.openAt(path, line);
        this.stdin = h('textarea', { class: 'stdin', id: 'stdin', rows: '3', spellcheck: 'false', placeholder: 'Given to the program on standard input, then end of file. Leave empty to answer input() as the program runs.', 'aria-label': 'Standard input' });
        this.stdin.value = prefs.get(`stdin:${ws}`, '');
        this.stdin.addEventListener('input', () => prefs.set(`stdin:${ws}`, this.stdin.value));
        this.args = h('input', { class: 'input args', id: 'run-args', spellcheck: 'false', placeholder: 'e.g. data.csv --verbose', 'aria-label': 'Command-line arguments' });
        this.args.value = prefs.get(`args:${ws}`, '');
        this.args.addEventListener('input', () => prefs.set(`args:${ws}`, this.args.value));
        const stdinOpen = prefs.get(`stdin-open:${ws}`, this.stdin.value !== '' || this.args.value !== '');
        const stdinWrap = h('details', { class: 'stdin-wrap', open: stdinOpen, ontoggle: (e: Event) => prefs.set(`stdin-open:${ws}`, (e.target as HTMLDetailsElement).open) },
            h('summary', null, icon('stdin'), 'Input and arguments'),
            h('label', { class: 'io-label', for: 'run-args' }, 'Arguments'), this.args,
            h('label', { class: 'io-label', for: 'stdin' }, 'Standard input'), this.stdin);
        const live = h('input', { class: 'input live-input', placeholder: 'Input for the program: Enter sends a line · Ctrl+D ends input', 'aria-label': 'Send a line to the running program' });
        this.liveField = live;
        live.addEventListener('keydown', (e) => {
            if (!this.current) return;
            if (e.key === 'Enter') {
                e.preventDefault();
                const line = `${live.value}\n`;
                live.value = '';
                this.view.append('stdin', line);
                runsApi.stdin(this.current.id, line).catch((err) => toast(messageOf(err), 'error'));
            } else if (e.key === 'd' && e.ctrlKey) {
                e.preventDefault();
                runsApi.stdin(this.current.id, '').catch(() => {});
            }
        });
        this.liveHint = h('div', { class: 'live-hint' });
        this.liveInput = h('div', { class: 'live-input-wrap', hidden: true }, h('div', { class: 'live-line' }, h('span', { class: 'muted' }, 'stdin ›'), live), this.liveHint);
        this.history = h('div', { class: 'history', hidden: true });
        this.tabs = {
            output: h('button', { type: 'button', class: 'ptab active', role: 'tab', 'aria-selected': 'true', onclick: () => this.showTab('output') }, 'Output'),
            history: h('button', { type: 'button', class: 'ptab', role: 'tab', 'aria-selected': 'false', onclick: () => this.showTab('history') }, 'History'),
        };
        this.outputTab = h('div', { class: 'run-output-tab' }, stdinWrap, this.view.el, this.liveInput);
        this.el = h('aside', { class: 'run-panel', 'aria-label': 'Run' },
            h('div', { class: 'pane-head' }, h('div', { class: 'ptabs', role: 'tablist' }, this.tabs.output, this.tabs.history),
                h('div', { class: 'pane-tools' },
                    h('button', { type: 'button', class: 'btn icon-only', title: 'Clear output', 'aria-label': 'Clear output', onclick: () => this.view.reset() }, icon('trash')))),
            this.outputTab,
            this.history);
        this.button = h('button', { type: 'button', class: 'btn btn-run', id: 'run', title: `Run (${MOD}+Enter)`, onclick: () => void (this.current ? this.stop() : this.run()) },
            icon('play'), h('span', { class: 'run-label' }, 'Run'));
        void this.loadHistory(true);
    }

    dispose(): void {
        this.disposed = true;
        this.view.dispose();
    }

    /** The server's limits, once known (the input line states the wall-time one). */
    setLimits(l: Limits): void {
        this.wallMs = l.run.wall_ms;
        this.idleMs = l.run.idle_ms ?? 0;
        this.liveHint.textContent = this.idleMs
            ? `Waiting for input does not count toward the ${fmtMs(l.run.wall_ms)} limit; a run may wait ${fmtMs(this.idleMs)} in all.`
            : `Time waiting for input counts toward the ${fmtMs(l.run.wall_ms)} limit.`;
    }

    /** The file Run runs: the active one if it is a program, else main.py or any .py. */
    private entry(): string | null {
        const active = this.hooks.activePath();
        if (/\.(py|sh)$/.test(active)) return active;
        const paths = this.hooks.paths();
        if (paths.has('main.py')) return 'main.py';
        return [...paths].find((p) => p.endsWith('.py')) ?? null;
    }

    /** Names the file Run would run (or Stop while a run is on). */
    updateLabel(): void {
        const e = this.entry();
        const label = this.button.querySelector('.run-label')!;
        if (this.current) {
            label.textContent = 'Stop';
            this.button.title = 'Stop the running program';
        } else {
            label.textContent = e ? `Run ${e.slice(e.lastIndexOf('/') + 1)}` : 'Run';
            this.button.title = e ? `Run ${e} (${MOD}+Enter)` : 'Create a .py file to run';
        }
    }

    private showTab(which: 'output' | 'history'): void {
        const out = which === 'output';
        this.tabs.output.classList.toggle('active', out);
        this.tabs.history.classList.toggle('active', !out);
        this.tabs.output.setAttribute('aria-selected', String(out));
        this.tabs.history.setAttribute('aria-selected', String(!out));
        this.outputTab.hidden = !out;
        this.history.hidden = out;
        if (!out) void this.loadHistory();
    }

    async run(): Promise<void> {
        if (this.current) return;
        const entry = this.entry();
        if (!entry) {
            toast('There is no Python file to run. Create one, e.g. main.py.', 'error');
            return;
        }
        if (this.store.open.get(entry)?.status === 'deleted') {
            toast(`${entry} is no longer on the server (deleted or moved, maybe in the terminal). Open it under its new name, or use "Save it again".`, 'error');
            return;
        }
        this.showTab('output');
        this.hooks.started();
        this.current = { id: 0 } as Run;
        this.button.classList.add('running');
        this.button.replaceChildren(icon('stop'), h('span', { class: 'run-label' }, 'Stop'));
        this.updateLabel();
        try {
            await this.store.saveAll();
            const unsaved = [...this.store.open.values()].filter((f) => this.store.isDirty(f));
            if (unsaved.some((f) => f.status === 'offline')) {
                // One message, not a save warning and then a failed run.
                this.view.reset();
                this.view.append('info', 'The server cannot be reached, so nothing was run. Your changes are kept in this browser and saved when it is back.\n');
                return;
            }
            if (unsaved.length) toast(`Not saved, so the run uses the server's version: ${unsaved.map((f) => f.path).join(', ')}`, 'error');
            // With text in the stdin box the program reads that and then end of file (as a
            // judge would); with the box empty, stdin stays open and the line under the output
            // answers input() while the program runs.
            const interactive = this.stdin.value === '';
            const r = await runsApi.start(this.ws, entry, this.stdin.value, splitArgs(this.args.value), interactive);
            this.current = r;
            this.liveInput.hidden = !interactive;
            // Keys typed while the program runs are its input, not edits of the code (input()
            // waits for them); focus returns to the editor when it ends.
            if (interactive) this.liveField.focus();
            const fin = await this.view.stream(r);
            const ahead = 'To answer input() at once, put the input in "Input and arguments" → Standard input before pressing Run.';
            if (interactive && fin.limit_hit === 'idle')
                this.view.append('info', `\nThe program waited for input longer than the ${fmtMs(this.idleMs)} a run may wait in all. ${ahead}\n`);
            else if (interactive && fin.limit_hit === 'wall_time' && !this.idleMs)
                this.view.append('info', `\nThe ${this.wallMs ? `${fmtMs(this.wallMs)} ` : ''}wall-time limit counts the time a program waits for input. ${ahead}\n`);
            if (!this.disposed) {
                void this.loadHistory();
                this.hooks.ended(); // files the program wrote are saved back
            }
        } catch (e) {
            this.view.reset();
            this.view.append('stderr', `Could not run ${entry}: ${messageOf(e)}\n`);
        } finally {
            this.current = null;
            if (document.activeElement === this.liveField) this.hooks.focusEditor();
            this.liveInput.hidden = true;
            this.button.classList.remove('running');
            this.button.replaceChildren(icon('play'), h('span', { class: 'run-label' }, 'Run'));
            this.updateLabel();
        }
    }

    private async stop(): Promise<void> {
        const r = this.current;
        if (!r || !r.id) return;
        try {
            await runsApi.cancel(r.id);
        } catch (e) {
            toast(messageOf(e), 'error');
        }
    }

    private async loadHistory(quiet = false): Promise<void> {
        try {
            const list = await runsApi.list(this.ws);
            clear(this.history);
            if (!list.items.length) {
                this.history.append(h('div', { class: 'run-empty' }, 'No runs yet.'));
                return;
            }
            for (const r of list.items) {
                const s = runSummary(r);
                this.history.append(h('button', { type: 'button', class: 'history-row', onclick: () => void this.showRun(r.id) },
                    h('span', { class: `hist-dot dot-${s.kind}`, 'aria-hidden': 'true' }),
                    h('span', { class: 'hist-entry' }, r.entry),
                    h('span', { class: 'hist-verdict' }, s.text),
                    h('span', { class: 'hist-time muted' }, r.wall_ms !== null && finished(r) ? fmtMs(r.wall_ms) : ''),
                    h('span', { class: 'hist-ago muted', title: r.created_at }, fmtAgo(r.created_at))));
            }
        } catch (e) {
            if (quiet) return;
            clear(this.history);
            this.history.append(h('div', { class: 'run-empty' }, `Could not load the run history: ${messageOf(e)}`));
        }
    }

    private async showRun(id: number): Promise<void> {
        try {
            const r = await runsApi.get(id);
            this.showTab('output');
            if (finished(r)) this.view.show(r);
            else void this.view.stream(r);
        } catch (e) {
            toast(messageOf(e), 'error');
        }
    }
}

/** Splits an argument line like a shell does for words and quotes (no expansion). */
export function splitArgs(line: string): string[] {
    const out: string[] = [];
    let word = '';
    let inWord = false;
    let quote = '';
    for (let i = 0; i < line.length; i++) {
        const c = line[i];
        if (quote) {
            if (c === quote) quote = '';
            else if (c === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
            else word += c;
        } else if (c === '"' || c === "'") {
            quote = c;
            inWord = true;
        } else if (c === '\\' && i + 1 < line.length) {
            word += line[++i];
            inWord = true;
        } else if (/\s/.test(c)) {
            if (inWord) out.push(word);
            word = '';
            inWord = false;
        } else {
            word += c;
            inWord = true;
        }
    }
    if (inWord) out.push(word);
    return out;
}
