// The IDE page (/w/:id): file tree | tabs + editor (+ terminal below) | run output, with a
// top bar and a status bar. The Ide class only composes the panels, each a module of its own:
//
//   FileStore (files.ts)      open files' text, autosave, drafts, conflicts
//   FileTree (tree.ts)        the tree; FileOps (fileops.ts) what its commands do
//   EditorPanel               tabs and the editor          StatusBar    the bottom line
//   RunPanel                  Run, input, output, history   TermPanel    the terminals
//   IdeHeader                 breadcrumb and actions        IdeLayout    columns, dividers, phone panes
//   WorkspaceEvents           the workspace's event stream (events.ts, with fileEvents)
//   SearchPanel               search across files, above the tree
//
// A module that adds to the IDE (collaboration: members, history, presence) takes the Ide and
// uses its public panels: `header.addAction(el)`, `events.on(name, fn)`, `layout.sidebar`,
// `editor.open(path)`, `onDispose(fn)`; it is plugged in with one line in the constructor.

import { ApiError, limits as limitsApi, messageOf, type FileEntry, type Workspace } from '../api';
import { h, icon, toast } from '../dom';
import { baseExtensions, languageFor } from '../editor';
import { Lang } from '../lang';
import { navigate, onLeave } from '../router';
import { errorBlock, loading, topbar } from '../session';
import { openSearchPanel } from '@codemirror/search';
import { EditorPanel } from './editorpanel';
import { fileEvents, WorkspaceEvents } from './events';
import { FileOps } from './fileops';
import { FileStore } from './files';
import { IdeHeader } from './header';
import { ideCaptureKeys, ideKeys, type KeyHooks } from './keys';
import { IdeLayout } from './layout';
import { prefetchIde, type IdeData } from './prefetch';
import { quickOpen } from './quickopen';
import { Collab } from './collab';
import { historyDialog } from './history';
import { membersDialog } from './members';
import { Presence } from './presence';
import { RunPanel } from './runpanel';
import { SearchPanel } from './search';
import { StatusBar } from './statusbar';
import { TermPanel } from './terminals';
import { FileTree } from './tree';

export { splitArgs } from './runpanel';

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

export class Ide {
    readonly store: FileStore;
    readonly tree: FileTree;
    readonly lang: Lang;
    readonly editor: EditorPanel;
    readonly status: StatusBar;
    readonly runs: RunPanel;
    readonly terminals: TermPanel;
    readonly files: FileOps;
    readonly header: IdeHeader;
    readonly layout: IdeLayout;
    readonly events: WorkspaceEvents;
    readonly search: SearchPanel;
    readonly presence: Presence;
    readonly collab: Collab;
    private cleanups: (() => void)[] = [];
    private disposed = false;

    constructor(app: HTMLElement, readonly ws: Workspace, entries: FileEntry[], early: IdeData['first']) {
        const viewer = ws.role === 'viewer'; // a viewer reads, follows and watches only
        const shared = baseExtensions({ onSave: () => void this.saveNow(), onRun: () => void this.runs.run() }, viewer);
        this.lang = new Lang(ws.id, { open: (p) => this.editor.open(p), view: () => this.editor.view });
        this.store = new FileStore(ws.id, (path) => [shared, languageFor(path), this.lang.extensions(path), this.collab.extension(path), this.presence.extension, this.editor.listener]);
        this.store.prefetched.set(early.path, early.content);
        this.store.readOnly = viewer;
        this.store.onChange = (f) => this.editor.fileChanged(f);
        this.store.onConflict = (f) => this.editor.conflict(f);
        this.store.onDocGone = (f) => void this.collab.reset(f.path, true);

        this.tree = new FileTree(ws.id, {
            open: (p) => {
                this.layout.showIfNarrow('code');
                void this.editor.open(p);
            },
            create: (p, kind) => this.files.create(p, kind),
            rename: (p) => void this.files.rename(p),
            remove: (p, kind) => void this.files.remove(p, kind),
            move: (from, to) => void this.files.move(from, to),
            upload: (list, folder) => void this.files.upload(list, folder),
            downloadZip: (folder) => this.files.downloadZip(folder),
        });
        this.tree.setEntries(entries);
        this.editor = new EditorPanel(ws.id, this.store, this.tree, this.lang, {
            shown: () => {
                this.runs.updateLabel();
                this.presence.moved();
                this.presence.showCarets();
            },
            refreshTree: () => this.files.refresh(),
            prepare: (f) => this.collab.prepare(f),
            moved: (docChanged) => this.presence.moved(docChanged),
            closed: (p) => this.collab.close(p),
        });
        this.presence = new Presence(ws.id, {
            view: () => this.editor.view, active: () => this.editor.active, open: (p) => this.editor.open(p),
            together: (p) => {
                const f = this.store.open.get(p);
                if (f) this.collab.prepare(f);
            },
        });
        this.collab = new Collab(ws.id, {
            client: this.presence.client, readOnly: viewer, view: () => this.editor.view, active: () => this.editor.active,
            store: this.store,
            together: (p) => this.presence.othersOn(p),
        });
        this.store.sharedSaves = this.collab;
        this.status = new StatusBar(this.store, { active: () => this.editor.activeFile(), view: () => this.editor.view }, this.lang.status);
        this.editor.setStatus(this.status);
        this.status.addLeft(this.presence.element);
        this.files = new FileOps(ws.id, this.store, this.tree, this.editor);
        this.files.onMoved = () => this.runs.updateLabel();
        this.runs = new RunPanel(ws.id, this.store, {
            activePath: () => this.editor.active,
            paths: () => this.tree.paths(),
            started: () => this.layout.showIfNarrow('output'),
            ended: () => void this.files.refresh(),
            focusEditor: () => this.editor.focus(),
            openAt: (p, l) => void this.openAt(p, l),
        });
        this.terminals = new TermPanel(ws.id, {
            toggled: (open) => {
                this.header.terminalShown(open);
                this.layout.terminalShown(open);
            },
            focusEditor: () => this.editor.focus(),
            openAt: (p, l) => void this.lang.openAt(p, l),
        }, viewer);
        this.runs.button.hidden = viewer; // a viewer follows runs, never starts one
        this.header = new IdeHeader(ws, this.store, this.runs.button, { toggleTerminal: () => this.terminals.toggle() });
        this.header.addAction(h('button', { type: 'button', class: 'btn', id: 'file-history', title: 'History of the open file', onclick: () => void (this.editor.active && historyDialog(ws.id, this.editor.active, !viewer)) }, icon('history'), h('span', null, 'History')));
        this.header.addAction(h('button', { type: 'button', class: 'btn', id: 'download-workspace', title: 'Download workspace as zip', onclick: () => this.files.downloadZip('') }, icon('download'), h('span', null, 'Download')));
        this.header.addAction(h('button', { type: 'button', class: 'btn', id: 'share-workspace', title: 'Members of this workspace', onclick: () => void membersDialog(ws, () => navigate('/')) }, icon('share'), h('span', null, 'Share')));
        this.layout = new IdeLayout({ sidebar: this.tree.el, editor: this.editor.el, terminal: this.terminals.el, run: this.runs.el }, {
            resized: () => this.terminals.refit(),
            shown: (pane) => {
                if (pane === 'terminal' && !this.terminals.open) this.terminals.toggle(true);
                else if (pane === 'terminal') this.terminals.refit();
                if (pane === 'code') requestAnimationFrame(() => this.editor.focus());
            },
        });
        this.search = new SearchPanel(ws.id, (p, l) => void this.openAt(p, l));
        this.layout.sidebar.prepend(this.search.el);
        this.tree.addTool(h('button', { type: 'button', class: 'btn icon-only', title: 'Search in all files (Ctrl+Shift+F)', 'aria-label': 'Search in all files', onclick: () => this.search.show() }, icon('search')));
        app.replaceChildren(this.header.el, this.layout.root, this.status.el, this.layout.nav);

        const hooks: KeyHooks = {
            save: () => void this.saveNow(),
            run: () => void this.runs.run(),
            quickOpen: () => quickOpen([...this.tree.paths()], (p) => void this.editor.open(p)),
            search: () => {
                this.layout.showIfNarrow('files');
                this.search.show();
            },
            replace: () => this.replace(),
            toggleTerminal: () => this.terminals.toggle(),
        };
        const keys = ideKeys(hooks);
        const captured = ideCaptureKeys(hooks);
        document.addEventListener('keydown', keys);
        document.addEventListener('keydown', captured, true);
        this.onDispose(() => {
            document.removeEventListener('keydown', keys);
            document.removeEventListener('keydown', captured, true);
        });
        onLeave(() => this.dispose());
        this.terminals.start();

        this.events = new WorkspaceEvents(ws.id, this.presence.client);
        fileEvents(this.events, this.tree, this.editor, () => this.files.refreshSoon());
        this.presence.listen(this.events);
        this.collab.listen(this.events);
        // While a terminal is connected but the event stream is down (or the server has none),
        // the tree is refreshed every few seconds so files made in the terminal still show up.
        const poll = window.setInterval(() => {
            if (this.disposed || document.hidden) return;
            if (this.terminals.anyOpen() && !this.events.live()) void this.files.refresh();
        }, 3000);
        this.onDispose(() => clearInterval(poll));

        void this.editor.restore(new Set(entries.filter((e) => e.kind === 'file').map((e) => e.path)));
        void limitsApi().then((l) => {
            this.files.limits = l;
            this.status.showLimits(l);
            this.runs.setLimits(l);
        }).catch(() => {});
        this.status.showSave();
    }

    /** Runs fn when the page is left (event handlers, timers of modules plugged in). */
    onDispose(fn: () => void): void {
        this.cleanups.push(fn);
    }

    private dispose(): void {
        this.disposed = true;
        for (const fn of this.cleanups) fn();
        this.events.close();
        this.presence.dispose();
        this.collab.dispose();
        this.files.dispose();
        this.search.dispose();
        this.store.dispose();
        this.tree.dispose();
        this.runs.dispose();
        this.terminals.dispose();
        this.editor.dispose();
    }

    /** Opens path with the cursor on line (a traceback's link). */
    private async openAt(path: string, line: number): Promise<void> {
        if (!this.tree.paths().has(path)) {
            toast(`${path} is not a file of this workspace.`, 'error');
            return;
        }
        this.layout.showIfNarrow('code');
        await this.editor.openAt(path, line);
    }

    private replace(): boolean {
        const v = this.editor.view;
        if (!v) return false;
        openSearchPanel(v);
        requestAnimationFrame(() => (v.dom.querySelector('.cm-search input[name=replace]') as HTMLInputElement | null)?.focus());
        return true;
    }

    private async saveNow(): Promise<void> {
        await this.store.saveAll();
        const bad = [...this.store.open.values()].filter((f) => f.status !== 'saved');
        if (!bad.length) toast('All changes saved.', 'ok', 1500);
    }
}
