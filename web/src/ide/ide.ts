// The IDE page (/w/:id): file tree | tabs + editor (+ terminal below) | run output, with a
// status bar. Wires the file store (autosave, drafts, conflicts), the tree, the run panel,
// the terminals and the workspace's event stream together.

import {
    ApiError, bareEtag, BinaryFileError, files as filesApi, limits as limitsApi, messageOf, runs as runsApi, submissions as subApi,
    terminals as termApi, workspaces as wsApi, type FileEntry, type LiveEnv, type Limits, type Run, type Workspace,
} from '../api';
import { baseExtensions, EditorView, languageFor } from '../editor';
import { Lang, linkTerminal } from '../lang';
import { clear, dialog, fileIcon, fmtAgo, fmtBytes, fmtMs, h, icon, MOD, popupMenu, prefs, promptDialog, confirmDialog, toast } from '../dom';
import { navigate, onLeave } from '../router';
import { finished, RunView, runSummary } from '../runview';
import { errorBlock, loading, topbar, user as currentUser } from '../session';
import { EOL_NAME, FileStore, SAVE_LABEL, type Eol, type OpenFile } from './files';
import { conflictView } from './conflict';
import { splitter } from './split';
import { FileTree } from './tree';
import type { TermSession } from './terminal';
import { prefetchIde, type IdeData } from './prefetch';
import { quickOpen } from './quickopen';
import { openSearchPanel } from '@codemirror/search';

export async function idePage(id: number, pre: IdeData = prefetchIde(id)): Promise<void> {
    const app = document.getElementById('app')!;
    app.className = 'app-ide';
    app.replaceChildren(topbar('ide'), h('main', { class: 'page' }, loading('Opening workspace…')));
    let ws: Workspace;
    let entries: FileEntry[];
    try {
        [ws, entries] = await Promise.all([pre.ws, pre.entries]);
    } catch (e) {
        const gone = e instanceof ApiError && e.status === 404;
        const main = h('main', { class: 'page' }, errorBlock(gone ? 'This workspace does not exist, or is not yours.' : messageOf(e), gone ? undefined : () => void idePage(id)),
            h('p', null, h('a', { href: '/' }, '← All workspaces')));
        app.className = 'app-page';
        app.replaceChildren(topbar('workspaces'), main);
        return;
    }
    new Ide(app, ws, entries, pre.first);
}

const IMAGE = /\.(png|jpe?g|gif|webp|bmp|ico)$/i;

class Ide {
    private store: FileStore;
    private tree: FileTree;
    private view: EditorView | null = null;
    private tabs: string[] = [];
    /** Files found not to be text, with their sizes (shown as previews, not editors). */
    private binaries = new Map<string, number>();
    /** Scroll positions of files not on screen, by path. */
    private scrollTops = new Map<string, number>();
    private keepTabFocus = false;
    private active = '';
    private tabBar: HTMLElement;
    private tabsMore: HTMLButtonElement;
    private editorHost: HTMLElement;
    private center: HTMLElement;
    private saveStatus: HTMLElement;
    private cursorStatus: HTMLElement;
    private langStatus: HTMLElement;
    private eolStatus: HTMLButtonElement;
    private limitStatus: HTMLElement;
    private runBtn: HTMLButtonElement;
    private runView: RunView;
    private stdin: HTMLTextAreaElement;
    private args: HTMLInputElement;
    private stdinWrap: HTMLElement;
    private liveInput: HTMLElement;
    private liveField: HTMLInputElement;
    private history: HTMLElement;
    private runTabs: { output: HTMLButtonElement; history: HTMLButtonElement };
    private current: Run | null = null;
    private events: EventSource | null = null;
    private refreshTimer = 0;
    private limits: Limits | null = null;
    private root: HTMLElement;
    private termPanel: HTMLElement;
    private termTabs: HTMLElement;
    private termBody: HTMLElement;
    private termState: HTMLElement;
    private terms = new Map<string, TermSession>();
    private termActive = '';
    private termOpen: boolean;
    /** The live environments the server listed when a terminal was refused. */
    private liveEnvs: LiveEnv[] = [];
    private disposed = false;
    private lang: Lang;
    private viewNav!: HTMLElement;

    constructor(private app: HTMLElement, private ws: Workspace, entries: FileEntry[], early: IdeData['first']) {
        document.title = `${ws.name} · pyroom`;
        const hooks = { onSave: () => void this.saveNow(), onRun: () => void this.run() };
        const shared = baseExtensions(hooks);
        const listener = EditorView.updateListener.of((u) => {
            const f = this.store.open.get(this.active);
            if (!f || u.state !== this.view?.state) return;
            if (u.docChanged) this.store.edited(f, u.state);
            else f.state = u.state;
            if (u.selectionSet || u.docChanged) this.showCursor();
        });
        this.lang = new Lang(ws.id, { open: (p) => this.open(p), view: () => this.view });
        this.store = new FileStore(ws.id, (path) => [shared, languageFor(path), this.lang.extensions(path), listener]);
        this.store.prefetched.set(early.path, early.content);
        this.store.onChange = (f) => this.fileChanged(f);
        this.store.onConflict = (f) => {
            if (f.path === this.active) this.showActive();
            else toast(`${f.path} changed on the server while you were editing it. Open it to choose a version.`, 'error');
        };

        this.tree = new FileTree(ws.id, {
            open: (p) => {
                if (this.narrow()) this.setView('code');
                void this.open(p);
            },
            create: (p, kind) => this.create(p, kind),
            rename: (p) => void this.rename(p),
            remove: (p, kind) => void this.remove(p, kind),
            move: (from, to) => void this.move(from, to),
            upload: (list, folder) => void this.upload(list, folder),
        });
        this.tree.setEntries(entries);

        // Center: tabs, editor, terminal.
        this.tabBar = h('div', { class: 'tabs', role: 'tablist', 'aria-label': 'Open files' });
        // A mouse wheel scrolls the tabs sideways; the list button reaches every open file.
        this.tabBar.addEventListener('wheel', (e) => {
            if (Math.abs(e.deltaY) > Math.abs(e.deltaX) && this.tabBar.scrollWidth > this.tabBar.clientWidth) {
                this.tabBar.scrollLeft += e.deltaY;
                e.preventDefault();
            }
        }, { passive: false });
        this.tabsMore = h('button', { type: 'button', class: 'btn icon-only tabs-more', title: 'All open files', 'aria-label': 'All open files', 'aria-haspopup': 'menu', onclick: () => this.tabList() }, icon('collapse'));
        new ResizeObserver(() => this.tabsOverflow()).observe(this.tabBar);
        this.editorHost = h('div', { class: 'editor-host' });
        this.termTabs = h('div', { class: 'term-tabs', role: 'tablist', 'aria-label': 'Terminals' });
        this.termState = h('span', { class: 'term-state' });
        this.termBody = h('div', { class: 'term-body' });
        this.termPanel = h('section', { class: 'term-panel', 'aria-label': 'Terminal' },
            h('div', { class: 'pane-head' },
                h('span', { class: 'pane-title' }, icon('terminal'), 'Terminal'),
                this.termTabs,
                h('button', { type: 'button', class: 'btn icon-only', title: 'New terminal', 'aria-label': 'New terminal', onclick: () => void this.newTerm() }, icon('plus')),
                this.termState,
                h('div', { class: 'pane-tools' },
                    h('button', { type: 'button', class: 'btn icon-only', id: 'live-envs', title: 'Live environments (your workspaces with terminals running)', 'aria-label': 'Live environments', onclick: () => void this.envDialog() }, icon('stdin')),
                    h('button', { type: 'button', class: 'btn icon-only', title: `Hide terminal (Ctrl+\`)`, 'aria-label': 'Hide terminal', onclick: () => this.toggleTerm(false) }, icon('x')))),
            this.termBody);
        this.termOpen = prefs.get('term:open', false);

        // Right: run output and history.
        this.runView = new RunView();
        this.runView.output.onLocation = (path, line) => void this.openAt(path, line);
        this.stdin = h('textarea', { class: 'stdin', id: 'stdin', rows: '3', spellcheck: 'false', placeholder: 'Given to the program on standard input, then end of file. Leave empty to answer input() as the program runs.', 'aria-label': 'Standard input' });
        this.stdin.value = prefs.get(`stdin:${ws.id}`, '');
        this.stdin.addEventListener('input', () => prefs.set(`stdin:${ws.id}`, this.stdin.value));
        this.args = h('input', { class: 'input args', id: 'run-args', spellcheck: 'false', placeholder: 'e.g. data.csv --verbose', 'aria-label': 'Command-line arguments' });
        this.args.value = prefs.get(`args:${ws.id}`, '');
        this.args.addEventListener('input', () => prefs.set(`args:${ws.id}`, this.args.value));
        const stdinOpen = prefs.get(`stdin-open:${ws.id}`, this.stdin.value !== '' || this.args.value !== '');
        this.stdinWrap = h('details', { class: 'stdin-wrap', open: stdinOpen, ontoggle: (e: Event) => prefs.set(`stdin-open:${ws.id}`, (e.target as HTMLDetailsElement).open) },
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
                this.runView.append('stdin', line);
                runsApi.stdin(this.current.id, line).catch((err) => toast(messageOf(err), 'error'));
            } else if (e.key === 'd' && e.ctrlKey) {
                e.preventDefault();
                runsApi.stdin(this.current.id, '').catch(() => {});
            }
        });
        this.liveInput = h('div', { class: 'live-input-wrap', hidden: true }, h('span', { class: 'muted' }, 'stdin ›'), live);
        this.history = h('div', { class: 'history', hidden: true });
        this.runTabs = {
            output: h('button', { type: 'button', class: 'ptab active', role: 'tab', 'aria-selected': 'true', onclick: () => this.runTab('output') }, 'Output'),
            history: h('button', { type: 'button', class: 'ptab', role: 'tab', 'aria-selected': 'false', onclick: () => this.runTab('history') }, 'History'),
        };
        const runPanel = h('aside', { class: 'run-panel', 'aria-label': 'Run' },
            h('div', { class: 'pane-head' }, h('div', { class: 'ptabs', role: 'tablist' }, this.runTabs.output, this.runTabs.history),
                h('div', { class: 'pane-tools' },
                    h('button', { type: 'button', class: 'btn icon-only', title: 'Clear output', 'aria-label': 'Clear output', onclick: () => this.runView.reset() }, icon('trash')))),
            h('div', { class: 'run-output-tab' }, this.stdinWrap, this.runView.el, this.liveInput),
            this.history);

        // Top bar: breadcrumb, Run, Submit, Terminal.
        this.runBtn = h('button', { type: 'button', class: 'btn btn-run', id: 'run', title: `Run (${MOD}+Enter)`, onclick: () => void (this.current ? this.stop() : this.run()) },
            icon('play'), h('span', { class: 'run-label' }, 'Run'));
        // An admin in someone else's workspace sees whose it is, and is not offered Submit
        // (a submission is the owner's).
        const foreign = !!ws.owner && ws.owner.id !== currentUser()?.id;
        const crumb = h('div', { class: 'crumb' },
            h('a', { href: '/', class: 'crumb-link' }, 'Workspaces'), h('span', { class: 'crumb-sep' }, '/'),
            foreign ? h('span', { class: 'owner-badge', title: `This workspace belongs to ${ws.owner.username}; you see it as an administrator` }, `${ws.owner.username}’s`) : null,
            h('button', { type: 'button', class: 'crumb-name', title: 'Rename workspace', onclick: () => void this.renameWorkspace() }, ws.name));
        const actions = h('div', { class: 'top-actions' },
            this.runBtn,
            h('button', { type: 'button', class: 'btn', id: 'toggle-terminal', title: 'Terminal (Ctrl+`)', 'aria-pressed': String(prefs.get('term:open', false)), onclick: () => this.toggleTerm() }, icon('terminal'), h('span', null, 'Terminal')),
            foreign ? null : h('button', { type: 'button', class: 'btn', id: 'submit-review', onclick: () => void this.submit() }, icon('upload'), h('span', null, 'Submit')));

        // Status bar.
        this.saveStatus = h('span', { class: 'sb-item sb-save', role: 'status', 'aria-live': 'polite' });
        this.cursorStatus = h('span', { class: 'sb-item' });
        this.langStatus = h('span', { class: 'sb-item' });
        this.eolStatus = h('button', { type: 'button', class: 'sb-item sb-button sb-eol', hidden: true, onclick: () => void this.convertEol() });
        this.limitStatus = h('span', { class: 'sb-item sb-limits' });
        const statusbar = h('footer', { class: 'statusbar' }, this.saveStatus, h('span', { class: 'sb-spacer' }), this.lang.status, this.cursorStatus, h('span', { class: 'sb-item sb-tabhint' }, 'Esc then Tab leaves the editor'), h('span', { class: 'sb-item', title: 'Tab indents by 4 spaces. To move the focus out of the editor with the keyboard, press Esc, then Tab.' }, 'Spaces: 4'), this.eolStatus, this.langStatus, this.limitStatus);

        this.center = h('div', { class: 'center' }, h('div', { class: 'tabbar' }, this.tabBar, this.tabsMore), this.editorHost);
        this.root = h('div', { class: 'ide' });
        const sideSplit = splitter({ root: this.root, prop: '--sidebar-w', axis: 'x', dir: 1, min: 140, max: () => innerWidth * 0.4, initial: 220, key: 'size:sidebar', label: 'Resize file tree' });
        const runSplit = splitter({ root: this.root, prop: '--run-w', axis: 'x', dir: -1, min: 240, max: () => innerWidth * 0.6, initial: Math.round(Math.max(300, innerWidth * 0.3)), key: 'size:run', label: 'Resize output panel', onResize: () => this.refitTerms() });
        const termSplit = splitter({ root: this.root, prop: '--term-h', axis: 'y', dir: -1, min: 90, max: () => innerHeight - 200, initial: 240, key: 'size:term', label: 'Resize terminal', onResize: () => this.refitTerms() });
        this.termPanel.prepend(termSplit);
        this.root.append(h('aside', { class: 'sidebar', 'aria-label': 'Files' }, this.tree.el), sideSplit,
            h('div', { class: 'center-col' }, this.center, this.termPanel), runSplit, runPanel);
        // Below ~700 px there is room for one pane: a switcher at the bottom picks it.
        const viewBtn = (v: 'files' | 'code' | 'output' | 'terminal', label: string, ic: string) =>
            h('button', { type: 'button', class: 'view-btn', role: 'tab', dataset: { view: v }, 'aria-selected': String(v === 'code'), onclick: () => this.setView(v) }, icon(ic), h('span', null, label));
        this.viewNav = h('nav', { class: 'ide-views', role: 'tablist', 'aria-label': 'Show' },
            viewBtn('files', 'Files', 'folder'), viewBtn('code', 'Code', 'py'), viewBtn('output', 'Output', 'play'), viewBtn('terminal', 'Terminal', 'terminal'));
        this.root.dataset.view = 'code';
        app.replaceChildren(topbar('ide', crumb, actions), this.root, statusbar, this.viewNav);

        document.addEventListener('keydown', this.keys);
        onLeave(() => this.dispose());
        this.termPanel.hidden = !this.termOpen;
        this.root.classList.toggle('term-open', this.termOpen);
        if (this.termOpen) void this.showTerm();

        void this.restoreTabs(entries);
        void limitsApi().then((l) => {
            this.limits = l;
            this.showLimits();
        }).catch(() => {});
        this.subscribe();
        void this.loadHistory(true);
        this.showSave();
    }

    /** While a terminal is connected but the event stream is down (or the server has none),
     *  the tree is refreshed every few seconds so files made in the terminal still show up. */
    private poll = window.setInterval(() => {
        if (this.disposed || document.hidden) return;
        const termLive = [...this.terms.values()].some((t) => t.state === 'open');
        if (termLive && this.events?.readyState !== EventSource.OPEN) void this.refreshTree();
    }, 3000);

    private dispose(): void {
        this.disposed = true;
        clearInterval(this.poll);
        document.removeEventListener('keydown', this.keys);
        this.events?.close();
        this.store.dispose();
        this.tree.dispose();
        this.runView.dispose();
        for (const t of this.terms.values()) t.dispose();
        this.view?.destroy();
    }

    /** The pane shown on a narrow screen (CSS shows them all on a wide one). */
    private setView(v: 'files' | 'code' | 'output' | 'terminal'): void {
        this.root.dataset.view = v;
        for (const b of this.viewNav.querySelectorAll<HTMLElement>('.view-btn')) b.setAttribute('aria-selected', String(b.dataset.view === v));
        if (v === 'terminal' && !this.termOpen) this.toggleTerm(true);
        else if (v === 'terminal') this.refitTerms();
        if (v === 'code') requestAnimationFrame(() => this.view?.focus());
    }
    private narrow(): boolean {
        return matchMedia('(max-width: 700px)').matches;
    }

    private keys = (e: KeyboardEvent): void => {
        const mod = e.ctrlKey || e.metaKey;
        if (mod && e.key === 's') {
            e.preventDefault();
            void this.saveNow();
        } else if ((mod && e.key === 'Enter') || (e.key === 'F5' && !mod && !e.shiftKey)) {
            // F5 as in other editors; it would otherwise reload the page.
            e.preventDefault();
            void this.run();
        } else if (mod && !e.shiftKey && e.key.toLowerCase() === 'p') {
            // Ctrl+P is Print in a browser; here it is "go to file", as in other editors.
            e.preventDefault();
            quickOpen([...this.tree.paths()], (p) => void this.open(p));
        } else if (mod && e.key.toLowerCase() === 'h' && this.view) {
            // Ctrl+H (history in some browsers) opens find and replace, as in other editors.
            e.preventDefault();
            openSearchPanel(this.view);
            requestAnimationFrame(() => (this.view?.dom.querySelector('.cm-search input[name=replace]') as HTMLInputElement | null)?.focus());
        } else if (e.ctrlKey && e.key === '`') {
            e.preventDefault();
            this.toggleTerm();
        }
    };

    // ---- files and tabs ----------------------------------------------------------------

    private async restoreTabs(entries: FileEntry[]): Promise<void> {
        const saved = prefs.get<{ tabs: string[]; active: string }>(`tabs:${this.ws.id}`, { tabs: [], active: '' });
        const exists = new Set(entries.filter((e) => e.kind === 'file').map((e) => e.path));
        const drafts = this.store.draftPaths();
        let tabs = saved.tabs.filter((p) => exists.has(p) || drafts.includes(p));
        for (const d of drafts) if (!tabs.includes(d) && exists.has(d)) tabs.push(d);
        if (!tabs.length) {
            const first = exists.has('main.py') ? 'main.py' : [...exists].find((p) => p.endsWith('.py')) ?? [...exists][0];
            if (first) tabs = [first];
        }
        const active = tabs.includes(saved.active) ? saved.active : tabs[0];
        for (const p of tabs) if (!this.tabs.includes(p)) this.tabs.push(p);
        this.renderTabs();
        if (active) await this.open(active);
        else this.showActive();
        // Load the other tabs' drafts in the background so their unsaved text is saved too.
        for (const p of tabs) {
            if (p !== active && drafts.includes(p)) {
                this.store.openFile(p).catch(() => {});
            }
        }
    }

    private persistTabs(): void {
        prefs.set(`tabs:${this.ws.id}`, { tabs: this.tabs, active: this.active });
    }

    async open(path: string): Promise<void> {
        if (!this.tabs.includes(path)) this.tabs.push(path);
        // Remember where the file being left was scrolled to.
        if (this.view && this.active && this.active !== path && this.view.dom.isConnected) this.scrollTops.set(this.active, this.view.scrollDOM.scrollTop);
        this.active = path;
        this.persistTabs();
        this.renderTabs();
        this.tree.setActive(path);
        if (!this.store.open.has(path)) {
            clear(this.editorHost);
            this.editorHost.append(loading(`Opening ${path}…`));
        }
        if (IMAGE.test(path) || this.binaries.has(path)) {
            this.showActive();
            return;
        }
        try {
            await this.store.openFile(path);
        } catch (e) {
            if (e instanceof BinaryFileError) this.binaries.set(path, e.size);
            if (this.active !== path) return;
            if (e instanceof BinaryFileError) return this.showActive();
            clear(this.editorHost);
            this.editorHost.append(errorBlock(`Could not open ${path}: ${messageOf(e)}`, () => void this.open(path)));
            return;
        }
        if (this.active === path) this.showActive();
    }

    /** Opens path with the cursor on line (a traceback's link). */
    private async openAt(path: string, line: number): Promise<void> {
        if (!this.tree.paths().has(path)) {
            toast(`${path} is not a file of this workspace.`, 'error');
            return;
        }
        if (this.narrow()) this.setView('code');
        await this.open(path);
        const v = this.view;
        if (!v || this.active !== path) return;
        const l = v.state.doc.line(Math.max(1, Math.min(line, v.state.doc.lines)));
        v.dispatch({ selection: { anchor: l.from, head: l.to }, effects: EditorView.scrollIntoView(l.from, { y: 'center' }) });
        v.focus();
    }

    /** Images are shown, other binary files offered for download: never opened as text. */
    private showPreview(path: string): void {
        const url = filesApi.url(this.ws.id, path);
        const name = path.slice(path.lastIndexOf('/') + 1);
        const body = IMAGE.test(path)
            ? h('img', { class: 'preview-img', src: `${url}?v=${Date.now()}`, alt: name })
            : h('p', { class: 'muted' }, `${name} is a binary file (${fmtBytes(this.binaries.get(path) ?? 0)}); it cannot be edited here.`);
        this.editorHost.append(h('div', { class: 'preview' }, body,
            h('p', null, h('a', { href: url, download: name, class: 'btn btn-small' }, 'Download'))));
        this.langStatus.textContent = IMAGE.test(path) ? 'Image' : 'Binary';
        this.saveStatus.textContent = '';
        this.cursorStatus.textContent = '';
    }

    private showActive(): void {
        if (this.disposed) return;
        const f = this.store.open.get(this.active);
        clear(this.editorHost);
        if (!f && this.active && (IMAGE.test(this.active) || this.binaries.has(this.active))) {
            this.showPreview(this.active);
            return;
        }
        if (!f) {
            this.view?.destroy();
            this.view = null;
            this.editorHost.append(h('div', { class: 'editor-empty' },
                h('div', { class: 'editor-empty-inner' },
                    h('p', { class: 'editor-empty-title' }, 'No file open'),
                    h('p', { class: 'muted' }, 'Pick a file in the tree, or create one.'),
                    h('dl', { class: 'shortcuts' },
                        h('dt', null, `${MOD}+Enter`), h('dd', null, 'Run'),
                        h('dt', null, `${MOD}+S`), h('dd', null, 'Save now (autosave is on)'),
                        h('dt', null, `${MOD}+P`), h('dd', null, 'Go to file'),
                        h('dt', null, `${MOD}+F, ${MOD}+H`), h('dd', null, 'Find, replace'),
                        h('dt', null, 'F5'), h('dd', null, 'Run'),
                        h('dt', null, 'Esc, Tab'), h('dd', null, 'Leave the editor (Tab indents)'),
                        h('dt', null, 'Ctrl+`'), h('dd', null, 'Terminal')))));
            this.showSave();
            this.showCursor();
            return;
        }
        if (f.status === 'conflict' && f.theirs) {
            this.editorHost.append(conflictView(f, {
                keepMine: async () => {
                    await this.store.keepMine(f);
                    this.showActive();
                },
                useTheirs: () => {
                    this.store.useTheirs(f);
                    this.showActive();
                },
            }));
            this.showSave();
            return;
        }
        if (f.status === 'deleted') {
            this.editorHost.append(h('div', { class: 'banner banner-warn', role: 'alert' },
                h('span', null, 'This file was deleted on the server (maybe from the terminal). Your text is kept here.'),
                h('button', { type: 'button', class: 'btn btn-small', onclick: () => { f.status = 'dirty'; void this.store.save(f, true).then(() => this.refreshTree()); this.showActive(); } }, 'Save it again'),
                h('button', { type: 'button', class: 'btn btn-small', onclick: () => this.closeTab(f.path, true) }, 'Close')));
        }
        if (!this.view) {
            this.view = new EditorView({ state: f.state, parent: this.editorHost });
            // bench/web measures navigation → this mark (the first editable editor).
            performance.mark('pyroom:editor-ready');
        } else {
            this.view.setState(f.state);
            this.editorHost.append(this.view.dom);
            const top = this.scrollTops.get(f.path);
            if (top) requestAnimationFrame(() => this.view && (this.view.scrollDOM.scrollTop = top));
        }
        this.langStatus.textContent = /\.pyw?$|\.pyi$/.test(f.path) ? 'Python' : 'Plain text';
        this.lang.setActive(f.path);
        this.showSave();
        this.showCursor();
        this.updateRunLabel();
        // Keyboard users moving along the tabs keep their place; a click goes to the text.
        if (this.keepTabFocus) this.keepTabFocus = false;
        else requestAnimationFrame(() => this.view?.focus());
    }

    private renderTabs(): void {
        clear(this.tabBar);
        for (const p of this.tabs) {
            const f = this.store.open.get(p);
            const name = p.slice(p.lastIndexOf('/') + 1);
            const dup = this.tabs.some((q) => q !== p && q.slice(q.lastIndexOf('/') + 1) === name);
            const dirty = f ? this.store.isDirty(f) : this.store.readDraft(p) !== null;
            const st = f?.status;
            const tab = h('div', {
                class: `tab ${p === this.active ? 'active' : ''} ${dirty ? 'dirty' : ''} ${st === 'conflict' ? 'tab-conflict' : ''}`,
                role: 'tab', 'aria-selected': String(p === this.active), tabindex: p === this.active ? '0' : '-1', title: p,
                dataset: { path: p },
                onclick: () => void this.open(p),
                onauxclick: (e: MouseEvent) => { if (e.button === 1) this.closeTab(p); },
                onkeydown: (e: KeyboardEvent) => {
                    const i = this.tabs.indexOf(p);
                    if (e.key === 'Enter' || e.key === ' ') void this.open(p);
                    else if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
                        const next = this.tabs[(i + (e.key === 'ArrowRight' ? 1 : this.tabs.length - 1)) % this.tabs.length];
                        this.keepTabFocus = true;
                        void this.open(next).then(() => (this.tabBar.querySelector(`.tab[data-path="${CSS.escape(next)}"]`) as HTMLElement | null)?.focus());
                    } else if (e.key === 'Delete') this.closeTab(p);
                    else return;
                    e.preventDefault();
                },
            },
                fileIcon(name),
                h('span', { class: 'tab-name' }, name),
                dup ? h('span', { class: 'tab-dir' }, p.slice(0, p.lastIndexOf('/')) || '/') : null,
                st === 'conflict' ? h('span', { class: 'tab-flag', title: 'Conflict' }, '!') : null,
                h('button', { type: 'button', class: 'tab-close', 'aria-label': `Close ${name}`, title: dirty ? 'Unsaved changes (saving) — close' : 'Close', onclick: (e: MouseEvent) => { e.stopPropagation(); this.closeTab(p); } },
                    h('span', { class: 'tab-dot', 'aria-hidden': 'true' }), icon('x', 'tab-x')));
            this.tabBar.append(tab);
        }
        this.tabsOverflow();
        // The active tab is always in view (opened from the tree, the list, or a link).
        const act = this.tabBar.querySelector<HTMLElement>('.tab.active');
        if (act) {
            const bar = this.tabBar.getBoundingClientRect();
            const r = act.getBoundingClientRect();
            if (r.left < bar.left) this.tabBar.scrollLeft -= bar.left - r.left;
            else if (r.right > bar.right) this.tabBar.scrollLeft += r.right - bar.right;
        }
        const unsaved = new Set<string>();
        for (const f of this.store.open.values()) if (this.store.isDirty(f)) unsaved.add(f.path);
        this.tree.setUnsaved(unsaved);
    }

    /** Shows the list button only when some tabs are scrolled out of view. */
    private tabsOverflow(): void {
        this.tabsMore.hidden = this.tabBar.scrollWidth <= this.tabBar.clientWidth + 1;
    }

    private tabList(): void {
        const items = this.tabs.map((p) => {
            const name = p.slice(p.lastIndexOf('/') + 1);
            const f = this.store.open.get(p);
            const dirty = f ? this.store.isDirty(f) : false;
            return {
                label: [fileIcon(name), name, dirty ? h('span', { class: 'pmenu-dot', title: 'Unsaved changes' }) : null],
                hint: p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '',
                current: p === this.active,
                dataset: { path: p },
                onSelect: () => void this.open(p),
            };
        });
        popupMenu(this.tabsMore, items, 'Open files');
    }

    private closeTab(path: string, force = false): void {
        const f = this.store.open.get(path);
        if (f && f.status === 'conflict' && !force) {
            void confirmDialog('Close with a conflict?', 'Your version of this file is not saved. It stays in this browser as a draft and the conflict is shown again when you reopen the file.', 'Close', false).then((ok) => ok && this.closeTab(path, true));
            return;
        }
        const i = this.tabs.indexOf(path);
        if (i < 0) return;
        this.tabs.splice(i, 1);
        if (f && f.status !== 'conflict' && f.status !== 'deleted') this.store.close(path);
        else this.store.open.delete(path);
        if (this.active === path) this.active = this.tabs[Math.min(i, this.tabs.length - 1)] ?? '';
        this.persistTabs();
        this.renderTabs();
        if (this.active) void this.open(this.active);
        else {
            this.tree.setActive('');
            this.showActive();
        }
    }

    private fileChanged(f: OpenFile): void {
        if (this.disposed) return;
        this.renderTabs();
        if (f.path === this.active) this.showSave();
    }

    private showEol(f: OpenFile | undefined): void {
        this.eolStatus.hidden = !f || f.status === 'conflict';
        if (!f) return;
        this.eolStatus.textContent = `${f.bom ? 'UTF-8 BOM' : 'UTF-8'} · ${EOL_NAME[f.eol]}`;
        this.eolStatus.title = `Line endings: ${EOL_NAME[f.eol]}. Click to convert.`;
        this.eolStatus.dataset.eol = EOL_NAME[f.eol];
    }

    /** Converts the open file's line endings, on request only (files are kept byte-exact). */
    private async convertEol(): Promise<void> {
        const f = this.store.open.get(this.active);
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

    private showSave(): void {
        const f = this.store.open.get(this.active);
        this.showEol(f);
        clear(this.saveStatus);
        let others = 0;
        let offline = false;
        for (const o of this.store.open.values()) {
            if (o !== f && (o.status === 'offline' || o.status === 'error' || o.status === 'conflict')) others++;
            if (o.status === 'offline') offline = true;
        }
        if (!f) {
            this.saveStatus.className = 'sb-item sb-save';
            this.saveStatus.append(others ? `${others} file(s) need attention` : '');
            return;
        }
        const st = f.status;
        this.saveStatus.className = `sb-item sb-save save-${st}`;
        this.saveStatus.dataset.state = st;
        const ic = st === 'saved' ? icon('check') : st === 'saving' ? h('span', { class: 'spinner small', 'aria-hidden': 'true' }) : h('span', { class: 'sb-dot', 'aria-hidden': 'true' });
        this.saveStatus.append(ic, h('span', null, SAVE_LABEL[st]));
        if (f.message && (st === 'offline' || st === 'error')) {
            this.saveStatus.title = f.message;
            this.saveStatus.append(h('span', { class: 'sb-msg' }, `— ${f.message}`));
            if (st === 'error') this.saveStatus.append(h('button', { type: 'button', class: 'link', onclick: () => void this.store.save(f) }, 'Retry'));
        } else this.saveStatus.title = '';
        if (others) this.saveStatus.append(h('span', { class: 'sb-msg' }, ` · ${others} other file(s) need attention`));
        document.body.classList.toggle('is-offline', offline);
    }

    private showCursor(): void {
        if (!this.view || !this.store.open.has(this.active)) {
            this.cursorStatus.textContent = '';
            return;
        }
        const s = this.view.state;
        const pos = s.selection.main.head;
        const line = s.doc.lineAt(pos);
        const sel = s.selection.main.to - s.selection.main.from;
        this.cursorStatus.textContent = `Ln ${line.number}, Col ${pos - line.from + 1}${sel ? ` (${sel} selected)` : ''}`;
    }

    private showLimits(): void {
        const l = this.limits?.run;
        if (!l) return;
        this.limitStatus.textContent = `Limits: ${fmtMs(l.wall_ms)} · ${fmtBytes(l.memory_bytes)}`;
        this.limitStatus.title = `Each run: wall time ${fmtMs(l.wall_ms)}, CPU time ${fmtMs(l.cpu_ms)}, memory ${fmtBytes(l.memory_bytes)}, ${l.pids} processes, output ${fmtBytes(l.output_bytes)}`;
    }

    private async saveNow(): Promise<void> {
        await this.store.saveAll();
        const bad = [...this.store.open.values()].filter((f) => f.status !== 'saved');
        if (!bad.length) toast('All changes saved.', 'ok', 1500);
    }

    private async refreshTree(): Promise<void> {
        try {
            const l = await filesApi.list(this.ws.id);
            if (this.disposed) return;
            this.tree.setEntries(l.items);
            // Open files changed elsewhere (a run's write-back, the terminal, another tab)
            // are reloaded, or shown as a conflict when they have unsaved edits here.
            const etags = new Map(l.items.filter((e) => e.kind === 'file').map((e) => [e.path, e.etag]));
            for (const f of this.store.open.values()) {
                const et = etags.get(f.path);
                if (et && bareEtag(et) !== f.etag && !f.saving && f.status !== 'conflict') void this.remoteChanged(f.path, et);
            }
        } catch (e) {
            if (!(e instanceof ApiError && e.status === 401)) toast(`Could not refresh the file list: ${messageOf(e)}`, 'error');
        }
    }
    private refreshSoon(): void {
        clearTimeout(this.refreshTimer);
        this.refreshTimer = window.setTimeout(() => void this.refreshTree(), 150);
    }

    private async create(path: string, kind: 'file' | 'folder'): Promise<boolean> {
        try {
            if (kind === 'folder') await filesApi.mkdir(this.ws.id, path);
            else await filesApi.write(this.ws.id, path, '', null, true);
        } catch (e) {
            const msg = e instanceof ApiError && (e.status === 412 || e.code === 'exists') ? `${path} already exists.` : messageOf(e);
            toast(msg, 'error');
            return false;
        }
        await this.refreshTree();
        if (kind === 'file') await this.open(path);
        return true;
    }

    private async upload(list: File[], folder: string): Promise<void> {
        const max = this.limits?.files.max_file_bytes ?? Infinity;
        const existing = this.tree.paths();
        let done = 0;
        for (const file of list) {
            const path = folder ? `${folder}/${file.name}` : file.name;
            if (file.size > max) {
                toast(`${file.name} is larger than the ${fmtBytes(max)} a file may have.`, 'error');
                continue;
            }
            if (existing.has(path) && !(await confirmDialog('Replace file?', `"${path}" exists. Replace it with the uploaded file?`, 'Replace'))) continue;
            if (this.store.open.has(path)) this.store.forget(path);
            try {
                await filesApi.write(this.ws.id, path, file);
                done++;
            } catch (e) {
                toast(`${file.name}: ${messageOf(e)}`, 'error');
            }
        }
        if (done) toast(`Uploaded ${done} file${done === 1 ? '' : 's'}.`, 'ok', 2000);
        await this.refreshTree();
        if (folder) this.tree.reveal(`${folder}/x`);
        // A replaced file that was open shows its new content.
        for (const file of list) this.binaries.delete(folder ? `${folder}/${file.name}` : file.name);
        if (this.active && !this.store.open.has(this.active)) await this.open(this.active);
    }

    private async rename(path: string): Promise<void> {
        const to = await promptDialog('Rename or move', 'New path (use / for folders)', path, 'Rename');
        if (!to || to === path) return;
        await this.doMove(path, to);
    }

    private async move(from: string, toFolder: string): Promise<void> {
        const name = from.slice(from.lastIndexOf('/') + 1);
        const to = toFolder ? `${toFolder}/${name}` : name;
        if (to !== from) await this.doMove(from, to);
    }

    private async doMove(from: string, to: string): Promise<void> {
        // Unsaved text goes first, so it moves with the file.
        await Promise.all([...this.store.open.values()].filter((f) => f.path === from || f.path.startsWith(`${from}/`)).map((f) => this.store.save(f)));
        try {
            await filesApi.move(this.ws.id, from, to);
        } catch (e) {
            toast(e instanceof ApiError && e.code === 'exists' ? `${to} already exists.` : messageOf(e), 'error');
            return;
        }
        this.store.renamed(from, to);
        this.tabs = this.tabs.map((p) => (p === from ? to : p.startsWith(`${from}/`) ? to + p.slice(from.length) : p));
        if (this.active === from || this.active.startsWith(`${from}/`)) this.active = to + this.active.slice(from.length);
        this.persistTabs();
        this.renderTabs();
        await this.refreshTree();
        this.tree.reveal(to);
        if (this.active) this.tree.setActive(this.active);
        this.updateRunLabel();
    }

    private async remove(path: string, kind: 'file' | 'folder'): Promise<void> {
        const ok = await confirmDialog(kind === 'folder' ? 'Delete folder?' : 'Delete file?',
            kind === 'folder' ? [`"${path}" and everything in it will be deleted.`] : [`"${path}" will be deleted.`], 'Delete');
        if (!ok) return;
        try {
            await filesApi.remove(this.ws.id, path);
        } catch (e) {
            toast(messageOf(e), 'error');
            return;
        }
        this.store.forget(path);
        const closing = this.tabs.filter((p) => p === path || p.startsWith(`${path}/`));
        this.tabs = this.tabs.filter((p) => !closing.includes(p));
        if (closing.includes(this.active)) this.active = this.tabs[0] ?? '';
        this.persistTabs();
        this.renderTabs();
        await this.refreshTree();
        if (this.active) void this.open(this.active);
        else this.showActive();
    }

    private async renameWorkspace(): Promise<void> {
        const n = await promptDialog('Rename workspace', 'Name', this.ws.name, 'Rename');
        if (!n || n === this.ws.name) return;
        try {
            this.ws = await wsApi.rename(this.ws.id, n);
            document.title = `${this.ws.name} · pyroom`;
            const el = this.app.querySelector('.crumb-name');
            if (el) el.textContent = this.ws.name;
        } catch (e) {
            toast(messageOf(e), 'error');
        }
    }

    // ---- events from the server (terminal edits, other tabs) ------------------------------

    private subscribe(): void {
        let es: EventSource;
        try {
            es = new EventSource(`/api/workspaces/${this.ws.id}/events`);
        } catch {
            return;
        }
        this.events = es;
        const data = (ev: Event) => {
            try {
                return JSON.parse((ev as MessageEvent).data) as { path: string; etag?: string; message?: string };
            } catch {
                return null;
            }
        };
        es.addEventListener('file_changed', (ev) => {
            const d = data(ev);
            // The tree shows names only: a new file changes it, an edited one does not.
            if (!d?.path || !this.tree.paths().has(d.path)) this.refreshSoon();
            if (d?.path && d.etag) void this.remoteChanged(d.path, d.etag);
        });
        es.addEventListener('file_deleted', (ev) => {
            const d = data(ev);
            this.refreshSoon();
            if (d?.path) {
                for (const p of [...this.store.open.keys()]) {
                    if (p === d.path || p.startsWith(`${d.path}/`)) {
                        this.store.remoteDeleted(p);
                        if (p === this.active) this.showActive();
                    }
                }
            }
        });
        es.addEventListener('folder_created', () => this.refreshSoon());
        // Events were lost (this stream fell behind, or the cluster bus reconnected): reload the tree.
        es.addEventListener('resync', () => this.refreshSoon());
        // A move arrives as file_deleted + file_changed (src/api/events.c); a terminal's edit
        // that lost to a newer saved version arrives as conflict.
        es.addEventListener('conflict', (ev) => {
            const d = data(ev);
            toast(`${d?.path ?? 'A file'}: ${d?.message ?? 'changed in the terminal and here at once'}`, 'error');
            this.refreshSoon();
        });
        es.addEventListener('limit_exceeded', (ev) => {
            const d = data(ev);
            toast(`Not saved: ${d?.path ?? ''} — ${d?.message ?? 'workspace limit exceeded'}`, 'error');
        });
        // The database could not be reached: the server retries the terminal's change.
        es.addEventListener('not_saved', (ev) => {
            const d = data(ev);
            toast(`Not stored yet: ${d?.path ?? 'a file'} — ${d?.message ?? 'the server retries every second'}`, 'info');
        });
        es.addEventListener('open', () => this.refreshSoon());
    }

    private async remoteChanged(path: string, etag: string): Promise<void> {
        try {
            const f = await this.store.remoteChanged(path, etag);
            if (f && f.path === this.active && this.view) {
                // Replace only the changed middle so the cursor stays where it was.
                const cur = this.view.state.doc.toString();
                const next = f.baseDoc.toString();
                let a = 0;
                while (a < cur.length && a < next.length && cur[a] === next[a]) a++;
                let b = 0;
                while (b < cur.length - a && b < next.length - a && cur[cur.length - 1 - b] === next[next.length - 1 - b]) b++;
                this.view.dispatch({ changes: { from: a, to: cur.length - b, insert: next.slice(a, next.length - b) } });
            } else if (f) {
                f.state = f.state.update({ changes: { from: 0, to: f.state.doc.length, insert: f.baseDoc.toString() } }).state;
            } else if (this.store.open.get(path)?.status === 'conflict' && path === this.active) {
                this.showActive();
            }
        } catch {
            /* the next event or save will sort it out */
        }
    }

    // ---- runs -----------------------------------------------------------------------------

    private entry(): string | null {
        if (/\.(py|sh)$/.test(this.active)) return this.active;
        const paths = this.tree.paths();
        if (paths.has('main.py')) return 'main.py';
        return [...paths].find((p) => p.endsWith('.py')) ?? null;
    }

    private updateRunLabel(): void {
        const e = this.entry();
        const label = this.runBtn.querySelector('.run-label')!;
        if (this.current) {
            label.textContent = 'Stop';
            this.runBtn.title = 'Stop the running program';
        } else {
            label.textContent = e ? `Run ${e.slice(e.lastIndexOf('/') + 1)}` : 'Run';
            this.runBtn.title = e ? `Run ${e} (${MOD}+Enter)` : 'Create a .py file to run';
        }
    }

    private runTab(which: 'output' | 'history'): void {
        const out = which === 'output';
        this.runTabs.output.classList.toggle('active', out);
        this.runTabs.history.classList.toggle('active', !out);
        this.runTabs.output.setAttribute('aria-selected', String(out));
        this.runTabs.history.setAttribute('aria-selected', String(!out));
        (this.root.querySelector('.run-output-tab') as HTMLElement).hidden = !out;
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
        this.runTab('output');
        if (this.narrow()) this.setView('output');
        this.current = { id: 0 } as Run;
        this.runBtn.classList.add('running');
        this.runBtn.replaceChildren(icon('stop'), h('span', { class: 'run-label' }, 'Stop'));
        this.updateRunLabel();
        try {
            await this.store.saveAll();
            const unsaved = [...this.store.open.values()].filter((f) => this.store.isDirty(f));
            if (unsaved.some((f) => f.status === 'offline')) {
                // One message, not a save warning and then a failed run.
                this.runView.reset();
                this.runView.append('info', 'The server cannot be reached, so nothing was run. Your changes are kept in this browser and saved when it is back.\n');
                return;
            }
            if (unsaved.length) toast(`Not saved, so the run uses the server's version: ${unsaved.map((f) => f.path).join(', ')}`, 'error');
            // With text in the stdin box the program reads that and then end of file (as a
            // judge would); with the box empty, stdin stays open and the line under the output
            // answers input() while the program runs.
            const interactive = this.stdin.value === '';
            const r = await runsApi.start(this.ws.id, entry, this.stdin.value, splitArgs(this.args.value), interactive);
            this.current = r;
            this.liveInput.hidden = !interactive;
            // Keys typed while the program runs are its input, not edits of the code (input()
            // waits for them); focus returns to the editor when it ends.
            if (interactive) this.liveField.focus();
            await this.runView.stream(r);
            if (!this.disposed) {
                void this.loadHistory();
                void this.refreshTree(); // files the program wrote are saved back
            }
        } catch (e) {
            this.runView.reset();
            this.runView.append('stderr', `Could not run ${entry}: ${messageOf(e)}\n`);
        } finally {
            this.current = null;
            if (document.activeElement === this.liveField) this.view?.focus();
            this.liveInput.hidden = true;
            this.runBtn.classList.remove('running');
            this.runBtn.replaceChildren(icon('play'), h('span', { class: 'run-label' }, 'Run'));
            this.updateRunLabel();
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
            const list = await runsApi.list(this.ws.id);
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
            this.runTab('output');
            if (finished(r)) this.runView.show(r);
            else void this.runView.stream(r);
        } catch (e) {
            toast(messageOf(e), 'error');
        }
    }

    // ---- terminal ---------------------------------------------------------------------------

    private toggleTerm(open = !this.termOpen): void {
        this.termOpen = open;
        this.app.querySelector('#toggle-terminal')?.setAttribute('aria-pressed', String(open));
        prefs.set('term:open', open);
        this.termPanel.hidden = !open;
        this.root.classList.toggle('term-open', open);
        if (open) void this.showTerm();
        else this.view?.focus();
    }

    private refitTerms(): void {
        this.terms.get(this.termActive)?.refit();
    }

    private termNames(): string[] {
        return prefs.get<string[]>(`terms:${this.ws.id}`, ['1']);
    }

    private async showTerm(name?: string): Promise<void> {
        const names = this.termNames();
        name = name ?? (this.termActive || names[0] || '1');
        if (!names.includes(name)) {
            names.push(name);
            prefs.set(`terms:${this.ws.id}`, names);
        }
        this.termActive = name;
        let mod: typeof import('./terminal');
        try {
            mod = await import('./terminal');
        } catch (e) {
            this.termState.textContent = `Could not load the terminal: ${messageOf(e)}`;
            return;
        }
        if (this.disposed) return;
        let t = this.terms.get(name);
        if (!t) {
            const host = h('div', { class: 'term-host', dataset: { name } });
            this.termBody.append(host);
            t = new mod.TermSession(host, this.ws.id, name, (s) => {
                if (s.name === this.termActive) this.showTermState();
                this.renderTermTabs();
            }, () => this.termRefusal(name!));
            linkTerminal(t.term, (p, l) => void this.lang.openAt(p, l));
            this.terms.set(name, t);
        }
        for (const [n, s] of this.terms) s.host.hidden = n !== name;
        this.renderTermTabs();
        this.showTermState();
        requestAnimationFrame(() => {
            t!.refit();
            t!.focus();
        });
    }

    private async newTerm(): Promise<void> {
        const names = this.termNames();
        let n = 1;
        while (names.includes(String(n))) n++;
        await this.showTerm(String(n));
    }

    /** Why the server refuses terminal `name` of this workspace, if it is a limit. */
    private async termRefusal(name: string): Promise<string | null> {
        const l = await termApi.list();
        this.liveEnvs = l.items;
        const mine = l.items.find((e) => e.workspace_id === this.ws.id);
        if (!mine && l.max_per_user && l.items.length >= l.max_per_user)
            return `You have ${l.items.length} live environment${l.items.length === 1 ? '' : 's'}, the most allowed. End one to open a terminal here.`;
        if (mine && l.max_per_workspace && mine.terminal_count >= l.max_per_workspace && !mine.terminals.includes(name))
            return `This workspace has ${mine.terminal_count} terminals running, the most allowed. Close one to open another.`;
        return null;
    }

    /** The live environments, each with an End button. */
    private envList(envs: LiveEnv[], after: () => void): HTMLElement {
        if (!envs.length) return h('p', { class: 'muted' }, 'No terminals are running.');
        return h('ul', { class: 'env-list' }, envs.map((e) => {
            const here = e.workspace_id === this.ws.id;
            const end = h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `End the environment of ${e.workspace_name ?? e.workspace_id}`, onclick: async () => {
                end.disabled = true;
                try {
                    await termApi.end(e.workspace_id);
                    if (here) for (const n of [...this.terms.keys()]) this.dropTerm(n);
                } catch (err) {
                    if (!(err instanceof ApiError && err.status === 404)) toast(messageOf(err), 'error');
                }
                after();
            } }, 'End');
            return h('li', { class: 'env-row', dataset: { ws: String(e.workspace_id) } },
                h('span', { class: 'env-name' }, here ? h('strong', null, e.workspace_name ?? `#${e.workspace_id}`) : h('a', { href: `/w/${e.workspace_id}` }, e.workspace_name ?? `#${e.workspace_id}`),
                    here ? h('span', { class: 'muted' }, ' (this one)') : null),
                h('span', { class: 'env-terms muted' }, `${e.terminal_count} terminal${e.terminal_count === 1 ? '' : 's'} · ${e.clients ? 'in use' : `idle ${fmtMs(e.idle_ms)}`}`),
                end);
        }));
    }

    private async envDialog(): Promise<void> {
        let envs: LiveEnv[];
        let max = 0;
        try {
            const l = await termApi.list();
            envs = l.items;
            max = l.max_per_user;
        } catch (e) {
            toast(messageOf(e), 'error');
            return;
        }
        const holder = h('div', null);
        const refresh = async () => {
            try {
                holder.replaceChildren(this.envList((await termApi.list()).items, () => void refresh()));
            } catch (e) {
                holder.replaceChildren(h('p', { class: 'form-error' }, messageOf(e)));
            }
        };
        holder.append(this.envList(envs, () => void refresh()));
        await dialog<boolean>({
            title: 'Live environments',
            body: [h('p', null, `Each workspace with terminals running is a live environment; you may have ${max || 'any number of'} at once. One ends by itself after a while without use. Ending one stops its shells and programs; the files stay.`), holder],
            buttons: [{ label: 'Close', value: false, kind: 'primary' }],
        });
        const t = this.terms.get(this.termActive);
        if (t?.state === 'refused') t.restart();
    }

    /** Removes a terminal tab from the page (its shell is not touched). */
    private dropTerm(name: string): void {
        const t = this.terms.get(name);
        t?.dispose();
        t?.host.remove();
        this.terms.delete(name);
        const names = this.termNames().filter((n) => n !== name);
        prefs.set(`terms:${this.ws.id}`, names.length ? names : ['1']);
        if (this.termActive === name) {
            this.termActive = '';
            if (names.length) void this.showTerm(names[0]);
            else this.toggleTerm(false);
        } else this.renderTermTabs();
    }

    /** The tab's ×: a running shell is ended on request, or kept running in the background. */
    private async closeTerm(name: string): Promise<void> {
        const t = this.terms.get(name);
        if (t && t.state === 'open') {
            const v = await dialog<'end' | 'keep'>({
                title: `Close terminal bash ${name}?`,
                body: h('p', null, 'Ending the shell stops what runs in it and frees its place. Kept running, it ends by itself when unused for a while; reopening this terminal finds it again.'),
                buttons: [
                    { label: 'Cancel', value: null as unknown as 'end' },
                    { label: 'Keep running', value: 'keep' },
                    { label: 'End shell', value: 'end', kind: 'danger' },
                ],
            });
            if (!v) return;
            if (v === 'end') {
                try {
                    await termApi.end(this.ws.id, name);
                } catch (e) {
                    if (!(e instanceof ApiError && e.status === 404)) {
                        toast(messageOf(e), 'error');
                        return;
                    }
                }
            }
        }
        this.dropTerm(name);
    }

    private renderTermTabs(): void {
        clear(this.termTabs);
        for (const n of this.termNames()) {
            const t = this.terms.get(n);
            this.termTabs.append(h('div', { class: `ttab ${n === this.termActive ? 'active' : ''} ttab-${t?.state ?? 'idle'}`, role: 'tab', 'aria-selected': String(n === this.termActive), tabindex: '0', onclick: () => void this.showTerm(n) },
                h('span', { class: 'ttab-dot', 'aria-hidden': 'true' }), h('span', null, `bash ${n}`),
                h('button', { type: 'button', class: 'tab-close', 'aria-label': `Close terminal ${n}`, onclick: (e: MouseEvent) => { e.stopPropagation(); void this.closeTerm(n); } }, icon('x', 'tab-x'))));
        }
    }

    private showTermState(): void {
        const t = this.terms.get(this.termActive);
        clear(this.termState);
        for (const el of this.termBody.querySelectorAll('.term-refused')) el.remove();
        if (!t) return;
        if (t.state === 'refused') {
            this.termState.className = 'term-state term-refused-state';
            this.termState.dataset.state = t.state;
            this.termState.append(icon('x'), 'Terminal limit reached');
            this.termBody.append(h('div', { class: 'term-refused', role: 'alert' },
                h('p', { class: 'term-refused-msg' }, t.detail),
                this.envList(this.liveEnvs, () => t.restart()),
                h('p', null, h('button', { type: 'button', class: 'link', onclick: () => t.restart() }, 'Try again'))));
            return;
        }
        this.termState.className = `term-state term-${t.state}`;
        this.termState.dataset.state = t.state;
        if (t.state === 'open') {
            this.termState.append(h('span', { class: 'ttab-dot' }), 'Connected');
        } else {
            this.termState.append(t.state === 'exited' ? '' : h('span', { class: 'spinner small' }), t.detail || t.state);
            if (t.state === 'exited' || t.state === 'reconnecting' || t.state === 'error')
                this.termState.append(h('button', { type: 'button', class: 'link', onclick: () => t.restart() }, t.state === 'exited' ? 'Restart' : 'Retry now'));
        }
    }

    // ---- review -------------------------------------------------------------------------------

    private async submit(): Promise<void> {
        await this.store.saveAll();
        const unsaved = [...this.store.open.values()].filter((f) => this.store.isDirty(f));
        const msg = h('textarea', { class: 'input', rows: '4', id: 'submit-message', placeholder: 'What should the reviewer look at?', 'aria-label': 'Message to the reviewer' });
        const v = await dialog<boolean>({
            title: 'Submit for review',
            body: [
                h('p', null, `A snapshot of the workspace "${this.ws.name}" as saved now is sent to the reviewers. You can keep editing; later changes are not part of this submission.`),
                unsaved.length ? h('p', { class: 'banner banner-warn' }, `Not saved yet, so not included: ${unsaved.map((f) => f.path).join(', ')}`) : null,
                h('label', { class: 'field' }, h('span', null, 'Message'), msg),
            ],
            buttons: [
                { label: 'Cancel', value: false },
                { label: 'Submit', value: true, kind: 'primary' },
            ],
        });
        if (!v) return;
        try {
            const s = await subApi.create(this.ws.id, msg.value.trim());
            toast(`Submitted for review (#${s.id}).`, 'ok');
            navigate(`/submissions/${s.id}`);
        } catch (e) {
            toast(`Could not submit: ${messageOf(e)}`, 'error');
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
