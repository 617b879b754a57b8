// The IDE's centre: the open files' tabs (scrolling, with a list of all of them when they
// overflow) and the one CodeMirror view that shows the active file, or a conflict, an image
// preview, a binary file's download or the empty state. Owns which files are open and which
// is active (remembered per workspace); the files' text and saving belong to FileStore.

import { BinaryFileError, files as filesApi, messageOf } from '../api';
import { clear, confirmDialog, fileIcon, fmtBytes, h, icon, MOD, popupMenu, prefs, renderKeyed, toast } from '../dom';
import { EditorView } from '../editor';
import type { Lang } from '../lang';
import { errorBlock, loading } from '../session';
import { conflictView } from './conflict';
import type { FileStore, OpenFile } from './files';
import { diff } from './merge';
import type { StatusBar } from './statusbar';
import type { FileTree } from './tree';

const IMAGE = /\.(png|jpe?g|gif|webp|bmp|ico)$/i;

export interface EditorHooks {
    /** The shown file changed (the Run button names it). */
    shown(): void;
    /** The file list may have changed (a deleted file saved again). */
    refreshTree(): Promise<void>;
    /** Before f's state goes into the editor (co-editing brings it up to the shared text). */
    prepare?(f: OpenFile): void;
    /** The cursor, the selection or the text moved (presence tells the others). */
    moved?(docChanged: boolean): void;
    /** The tab of path was closed. */
    closed?(path: string): void;
}

export class EditorPanel {
    readonly el: HTMLElement;
    view: EditorView | null = null;
    /** The path of the active tab ('' when none). */
    active = '';
    tabs: string[] = [];
    /** Keeps the store's files and the editor in step; part of every file's extensions. */
    readonly listener = EditorView.updateListener.of((u) => {
        const f = this.store.open.get(this.active);
        if (!f || u.state !== this.view?.state) return;
        if (u.docChanged) this.store.edited(f, u.state);
        else f.state = u.state;
        if (u.selectionSet || u.docChanged) {
            this.status.showCursor();
            this.hooks.moved?.(u.docChanged);
        }
    });
    /** Files found not to be text, with their sizes (shown as previews, not editors). */
    private binaries = new Map<string, number>();
    /** Scroll positions of files not on screen, by path. */
    private scrollTops = new Map<string, number>();
    private keepTabFocus = false;
    private tabBar: HTMLElement;
    private tabsMore: HTMLButtonElement;
    private host: HTMLElement;
    private disposed = false;
    private status!: StatusBar;

    constructor(private ws: number, private store: FileStore, private tree: FileTree, private lang: Lang, private hooks: EditorHooks) {
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
        this.host = h('div', { class: 'editor-host' });
        this.el = h('div', { class: 'center' }, h('div', { class: 'tabbar' }, this.tabBar, this.tabsMore), this.host);
    }

    /** The status bar is made after the editor (it reads the editor's view). */
    setStatus(status: StatusBar): void {
        this.status = status;
    }

    dispose(): void {
        this.disposed = true;
        this.view?.destroy();
    }

    /** The active file, when it is an open text file. */
    activeFile(): OpenFile | undefined {
        return this.store.open.get(this.active);
    }

    focus(): void {
        this.view?.focus();
    }

    /** Reopens the tabs of the last visit (and files with unsaved drafts). */
    async restore(exists: Set<string>): Promise<void> {
        const saved = prefs.get<{ tabs: string[]; active: string }>(`tabs:${this.ws}`, { tabs: [], active: '' });
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
        prefs.set(`tabs:${this.ws}`, { tabs: this.tabs, active: this.active });
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
            clear(this.host);
            this.host.append(loading(`Opening ${path}…`));
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
            clear(this.host);
            this.host.append(errorBlock(`Could not open ${path}: ${messageOf(e)}`, () => void this.open(path)));
            return;
        }
        if (this.active === path) this.showActive();
    }

    /** Opens path with line selected (a traceback's link); false when it is not a file here. */
    async openAt(path: string, line: number): Promise<void> {
        await this.open(path);
        const v = this.view;
        if (!v || this.active !== path) return;
        const l = v.state.doc.line(Math.max(1, Math.min(line, v.state.doc.lines)));
        v.dispatch({ selection: { anchor: l.from, head: l.to }, effects: EditorView.scrollIntoView(l.from, { y: 'center' }) });
        v.focus();
    }

    /** Images are shown, other binary files offered for download: never opened as text. */
    private showPreview(path: string): void {
        const url = filesApi.url(this.ws, path);
        const name = path.slice(path.lastIndexOf('/') + 1);
        const body = IMAGE.test(path)
            ? h('img', { class: 'preview-img', src: `${url}?v=${Date.now()}`, alt: name })
            : h('p', { class: 'muted' }, `${name} is a binary file (${fmtBytes(this.binaries.get(path) ?? 0)}); it cannot be edited here.`);
        this.host.append(h('div', { class: 'preview' }, body,
            h('p', null, h('a', { href: url, download: name, class: 'btn btn-small' }, 'Download'))));
        this.status.showPreview(IMAGE.test(path) ? 'Image' : 'Binary');
    }

    showActive(): void {
        if (this.disposed) return;
        const f = this.store.open.get(this.active);
        clear(this.host);
        if (!f && this.active && (IMAGE.test(this.active) || this.binaries.has(this.active))) {
            this.showPreview(this.active);
            return;
        }
        if (!f) {
            this.view?.destroy();
            this.view = null;
            this.host.append(h('div', { class: 'editor-empty' },
                h('div', { class: 'editor-empty-inner' },
                    h('p', { class: 'editor-empty-title' }, 'No file open'),
                    h('p', { class: 'muted' }, 'Pick a file in the tree, or create one.'),
                    h('dl', { class: 'shortcuts' },
                        h('dt', null, `${MOD}+Enter`), h('dd', null, 'Run'),
                        h('dt', null, `${MOD}+S`), h('dd', null, 'Save now (autosave is on)'),
                        h('dt', null, `${MOD}+P`), h('dd', null, 'Go to file'),
                        h('dt', null, `${MOD}+Shift+F`), h('dd', null, 'Search in all files'),
                        h('dt', null, `${MOD}+F, ${MOD}+H`), h('dd', null, 'Find, replace'),
                        h('dt', null, 'F5'), h('dd', null, 'Run'),
                        h('dt', null, 'Esc, Tab'), h('dd', null, 'Leave the editor (Tab indents)'),
                        h('dt', null, 'Ctrl+`'), h('dd', null, 'Terminal')))));
            this.status.showSave();
            this.status.showCursor();
            return;
        }
        if (f.status === 'conflict' && f.theirs) {
            this.host.append(conflictView(f, {
                keepMine: async () => {
                    await this.store.keepMine(f);
                    this.showActive();
                },
                useTheirs: () => {
                    this.store.useTheirs(f);
                    this.showActive();
                },
            }));
            this.status.showSave();
            return;
        }
        if (f.status === 'deleted') {
            this.host.append(h('div', { class: 'banner banner-warn', role: 'alert' },
                h('span', null, 'This file was deleted on the server (maybe from the terminal). Your text is kept here.'),
                h('button', { type: 'button', class: 'btn btn-small', onclick: () => { f.status = 'dirty'; void this.store.save(f, true).then(() => this.hooks.refreshTree()); this.showActive(); } }, 'Save it again'),
                h('button', { type: 'button', class: 'btn btn-small', onclick: () => this.closeTab(f.path, true) }, 'Close')));
        }
        this.hooks.prepare?.(f);
        if (!this.view) {
            this.view = new EditorView({ state: f.state, parent: this.host });
            // bench/web measures navigation → this mark (the first editable editor).
            performance.mark('pyroom:editor-ready');
        } else {
            this.view.setState(f.state);
            this.host.append(this.view.dom);
            const top = this.scrollTops.get(f.path);
            if (top) requestAnimationFrame(() => this.view && (this.view.scrollDOM.scrollTop = top));
        }
        this.status.setLanguage(/\.pyw?$|\.pyi$/.test(f.path) ? 'Python' : 'Plain text');
        this.lang.setActive(f.path);
        this.status.showSave();
        this.status.showCursor();
        this.hooks.shown();
        // Keyboard users moving along the tabs keep their place; a click goes to the text.
        if (this.keepTabFocus) this.keepTabFocus = false;
        else requestAnimationFrame(() => this.view?.focus());
    }

    /** One tab of the bar (renderTabs). */
    private tab(p: string, name: string, dup: boolean, dirty: boolean, conflict: boolean): HTMLElement {
        return h('div', {
            class: `tab ${p === this.active ? 'active' : ''} ${dirty ? 'dirty' : ''} ${conflict ? 'tab-conflict' : ''}`,
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
            conflict ? h('span', { class: 'tab-flag', title: 'Conflict' }, '!') : null,
            h('button', { type: 'button', class: 'tab-close', 'aria-label': `Close ${name}`, title: dirty ? 'Unsaved changes (saving) — close' : 'Close', onclick: (e: MouseEvent) => { e.stopPropagation(); this.closeTab(p); } },
                h('span', { class: 'tab-dot', 'aria-hidden': 'true' }), icon('x', 'tab-x')));
    }

    renderTabs(): void {
        // Tabs are kept while they look the same (renderKeyed): a peer's typing re-renders
        // the bar, and a click on a tab must not fall between two renders.
        renderKeyed(this.tabBar, this.tabs.map((p) => {
            const f = this.store.open.get(p);
            const name = p.slice(p.lastIndexOf('/') + 1);
            const dup = this.tabs.some((q) => q !== p && q.slice(q.lastIndexOf('/') + 1) === name);
            const dirty = f ? this.store.isDirty(f) : this.store.readDraft(p) !== null;
            const conflict = f?.status === 'conflict';
            return { key: JSON.stringify([p, p === this.active, dirty, conflict, dup]), make: () => this.tab(p, name, dup, dirty, conflict) };
        }));
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

    closeTab(path: string, force = false): void {
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
        this.hooks.closed?.(path);
        if (this.active === path) this.active = this.tabs[Math.min(i, this.tabs.length - 1)] ?? '';
        this.persistTabs();
        this.renderTabs();
        if (this.active) void this.open(this.active);
        else {
            this.tree.setActive('');
            this.showActive();
        }
    }

    /** A file's save state changed (FileStore.onChange). */
    fileChanged(f: OpenFile): void {
        if (this.disposed) return;
        this.renderTabs();
        if (f.path === this.active) this.status.showSave();
    }

    /** A file or folder moved: its tabs follow it. */
    moved(from: string, to: string): void {
        this.tabs = this.tabs.map((p) => (p === from ? to : p.startsWith(`${from}/`) ? to + p.slice(from.length) : p));
        if (this.active === from || this.active.startsWith(`${from}/`)) this.active = to + this.active.slice(from.length);
        this.persistTabs();
        this.renderTabs();
    }

    /** A file or folder was deleted here: its tabs close, another tab shows. */
    removed(path: string): void {
        const closing = this.tabs.filter((p) => p === path || p.startsWith(`${path}/`));
        this.tabs = this.tabs.filter((p) => !closing.includes(p));
        if (closing.includes(this.active)) this.active = this.tabs[0] ?? '';
        this.persistTabs();
        this.renderTabs();
    }

    /** Reopens the active tab (after a delete, or when an upload replaced it). */
    reshow(): void {
        if (this.active) void this.open(this.active);
        else this.showActive();
    }

    /** Uploaded files replace what was known about them (an image may now be text). */
    forgetBinary(path: string): void {
        this.binaries.delete(path);
    }

    /** Another writer changed path to etag: the open copy follows (the cursor stays). */
    async remoteChanged(path: string, etag: string): Promise<void> {
        try {
            const r = await this.store.remoteChanged(path, etag);
            if (r && r.f.path === this.active && this.view) {
                // Replace only the changed middle so the cursor stays where it was.
                const d = diff(this.view.state.doc.toString(), r.show);
                if (d) this.view.dispatch({ changes: d });
            } else if (r) {
                const d = diff(r.f.state.doc.toString(), r.show);
                if (d) r.f.state = r.f.state.update({ changes: d }).state;
            } else if (this.store.open.get(path)?.status === 'conflict' && path === this.active) {
                this.showActive();
            }
        } catch {
            /* the next event or save will sort it out */
        }
    }

    /** Another writer deleted path (or a folder holding open files). */
    remoteDeleted(path: string): void {
        for (const p of [...this.store.open.keys()]) {
            if (p === path || p.startsWith(`${path}/`)) {
                this.store.remoteDeleted(p);
                if (p === this.active) this.showActive();
            }
        }
    }

    /** Messages for the toast when a file not shown gets a conflict. */
    conflict(f: OpenFile): void {
        if (f.path === this.active) this.showActive();
        else toast(`${f.path} changed on the server while you were editing it. Open it to choose a version.`, 'error');
    }
}
