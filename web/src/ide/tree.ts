// The file tree: folders and files from the flat list the API returns, with expand state
// remembered per workspace, inline name entry for new files and folders, a context menu
// (new, download, rename, delete), drag-and-drop moves and keyboard navigation.

import { files as filesApi, type FileEntry } from '../api';
import { fileIcon, h, icon, prefs, renderKeyed, saveUrl } from '../dom';

interface Node {
    name: string;
    path: string;
    kind: 'file' | 'folder';
    children: Node[];
    size: number;
}

export interface TreeActions {
    open(path: string): void;
    create(path: string, kind: 'file' | 'folder'): Promise<boolean>;
    rename(path: string): void;
    remove(path: string, kind: 'file' | 'folder'): void;
    move(from: string, toFolder: string): void;
    /** Files dropped from the desktop or picked with Upload, into a folder ('' = root). */
    upload(files: File[], folder: string): void;
    /** A folder (or '' the whole workspace) downloaded as a zip. */
    downloadZip(folder: string): void;
}

function build(entries: FileEntry[]): Node {
    const root: Node = { name: '', path: '', kind: 'folder', children: [], size: 0 };
    const folders = new Map<string, Node>([['', root]]);
    const folder = (path: string): Node => {
        let n = folders.get(path);
        if (n) return n;
        const i = path.lastIndexOf('/');
        const parent = folder(i < 0 ? '' : path.slice(0, i));
        n = { name: path.slice(i + 1), path, kind: 'folder', children: [], size: 0 };
        parent.children.push(n);
        folders.set(path, n);
        return n;
    };
    for (const e of entries) {
        if (e.kind === 'folder') {
            folder(e.path);
            continue;
        }
        const i = e.path.lastIndexOf('/');
        const parent = folder(i < 0 ? '' : e.path.slice(0, i));
        parent.children.push({ name: e.path.slice(i + 1), path: e.path, kind: 'file', children: [], size: e.size });
    }
    const sort = (n: Node) => {
        n.children.sort((a, b) => (a.kind !== b.kind ? (a.kind === 'folder' ? -1 : 1) : a.name.localeCompare(b.name)));
        n.children.forEach(sort);
    };
    sort(root);
    return root;
}

export class FileTree {
    readonly el: HTMLElement;
    private list: HTMLElement;
    private entries: FileEntry[] = [];
    private expanded: Set<string>;
    private active = '';
    private unsaved = new Set<string>();
    private menu: HTMLElement | null = null;
    /** Where an inline "new file/folder" input is shown: its parent folder and kind. */
    private pending: { parent: string; kind: 'file' | 'folder' } | null = null;
    /** The row the keyboard acts on (Delete, F2, arrows): the clicked or arrowed-to row, or
     *  the open file when that changes. */
    private focusPath = '';
    /** True while render() replaces the rows (an input losing focus then is not a commit). */
    private rerendering = false;
    private picker: HTMLInputElement;

    constructor(private ws: number, private actions: TreeActions) {
        this.expanded = new Set(prefs.get<string[]>(`tree:${ws}`, []));
        this.list = h('div', { class: 'tree', role: 'tree', 'aria-label': 'Files', tabindex: '0' });
        this.list.addEventListener('keydown', (e) => this.key(e));
        this.list.addEventListener('contextmenu', (e) => {
            if ((e.target as Element).closest('.tree-row')) return;
            e.preventDefault();
            this.showMenu(e.clientX, e.clientY, null);
        });
        this.list.addEventListener('dragover', (e) => {
            if (!(e.target as Element).closest('.tree-row')) e.preventDefault();
        });
        this.list.addEventListener('drop', (e) => {
            if ((e.target as Element).closest('.tree-row')) return;
            e.preventDefault();
            if (e.dataTransfer?.files.length) return this.actions.upload([...e.dataTransfer.files], '');
            const from = e.dataTransfer?.getData('text/x-pyroom-path');
            if (from && from.includes('/')) this.actions.move(from, '');
        });
        const picker = h('input', { type: 'file', multiple: true, hidden: true, 'aria-label': 'Files to upload' });
        picker.addEventListener('change', () => {
            if (picker.files?.length) this.actions.upload([...picker.files], this.currentFolder());
            picker.value = '';
        });
        this.picker = picker;
        this.el = h(
            'div',
            { class: 'tree-wrap' },
            h('div', { class: 'pane-head' },
                h('span', { class: 'pane-title' }, 'Files'),
                h('div', { class: 'pane-tools' },
                    h('button', { type: 'button', class: 'btn icon-only', title: 'New file', 'aria-label': 'New file', onclick: () => this.startCreate('file') }, icon('fileAdd')),
                    h('button', { type: 'button', class: 'btn icon-only', title: 'New folder', 'aria-label': 'New folder', onclick: () => this.startCreate('folder') }, icon('folderAdd')),
                    h('button', { type: 'button', class: 'btn icon-only', title: 'Upload files (or drop them here)', 'aria-label': 'Upload files', onclick: () => this.picker.click() }, icon('upload')),
                    h('button', { type: 'button', class: 'btn icon-only', title: 'Collapse all', 'aria-label': 'Collapse all folders', onclick: () => { this.expanded.clear(); this.save(); this.render(); } }, icon('collapse')))),
            this.list,
            picker,
        );
        document.addEventListener('click', this.hideMenu);
        document.addEventListener('keydown', this.escMenu);
    }

    /** Adds a button to the Files header's tools (before New file). */
    addTool(el: HTMLElement): void {
        this.el.querySelector('.pane-tools')?.prepend(el);
    }

    dispose(): void {
        document.removeEventListener('click', this.hideMenu);
        document.removeEventListener('keydown', this.escMenu);
        this.menu?.remove();
    }

    setEntries(entries: FileEntry[]): void {
        this.entries = entries;
        this.render();
    }
    /** Every file and folder as the server listed them. */
    listing(): readonly FileEntry[] {
        return this.entries;
    }
    paths(): Set<string> {
        return new Set(this.entries.filter((e) => e.kind === 'file').map((e) => e.path));
    }
    folders(): Set<string> {
        const out = new Set<string>();
        for (const e of this.entries) {
            const parts = e.path.split('/');
            for (let i = 1; i < parts.length; i++) out.add(parts.slice(0, i).join('/'));
            if (e.kind === 'folder') out.add(e.path);
        }
        return out;
    }
    /** The open file changed (a tab, a link, a run): the keyboard cursor follows it, so the
     *  row that is highlighted is the one Delete, F2 or the menu key act on. */
    setActive(path: string): void {
        this.active = path;
        this.focusPath = path;
        this.reveal(path);
    }
    /** Expands the folders above a path so it is visible. */
    reveal(path: string): void {
        const parts = path.split('/');
        for (let i = 1; i < parts.length; i++) this.expanded.add(parts.slice(0, i).join('/'));
        this.save();
        this.render();
    }
    setUnsaved(paths: Set<string>): void {
        const same = paths.size === this.unsaved.size && [...paths].every((p) => this.unsaved.has(p));
        if (same) return;
        this.unsaved = paths;
        this.render();
    }

    private save(): void {
        prefs.set(`tree:${this.ws}`, [...this.expanded]);
    }

    /** The folder new entries go into: the active file's folder, or the root. */
    private currentFolder(): string {
        const sel = this.list.querySelector<HTMLElement>('.tree-row.focused');
        const p = sel?.dataset.path ?? this.active;
        const kind = sel?.dataset.kind;
        if (kind === 'folder') return p;
        const i = p.lastIndexOf('/');
        return i < 0 ? '' : p.slice(0, i);
    }

    startCreate(kind: 'file' | 'folder', parent = this.currentFolder()): void {
        this.pending = { parent, kind };
        if (parent) this.expanded.add(parent);
        this.render();
    }

    render(): void {
        const root = build(this.entries);
        const focusedPath = this.focusPath;
        // A re-render (the file list refreshed) keeps a half-typed new name.
        const typing = this.list.querySelector<HTMLInputElement>('.tree-input');
        const typed = typing?.value ?? '';
        const rows: { key: string | null; make: () => HTMLElement }[] = [];
        const walk = (n: Node, depth: number) => {
            if (this.pending && this.pending.parent === n.path) rows.push({ key: null, make: () => this.inputRow(depth) });
            for (const c of n.children) {
                const open = c.kind === 'folder' && this.expanded.has(c.path);
                const key = JSON.stringify([c.path, c.kind, depth, c.path === this.active, this.unsaved.has(c.path), open]);
                rows.push({ key, make: () => this.row(c, depth, focusedPath) });
                if (open) walk(c, depth + 1);
            }
        };
        walk(root, 0);
        if (!rows.length) {
            rows.push({ key: null, make: () => h('div', { class: 'tree-empty' }, 'No files. ', h('button', { type: 'button', class: 'link', onclick: () => this.startCreate('file', '') }, 'Create one')) });
        }
        this.rerendering = true;
        const els = renderKeyed(this.list, rows);
        this.rerendering = false;
        for (const r of els) {
            r.classList.toggle('focused', !!r.dataset.path && r.dataset.path === focusedPath);
            r.classList.remove('drop-target');
        }
        const input = this.list.querySelector<HTMLInputElement>('.tree-input');
        if (input) {
            input.value = typed;
            input.focus();
        }
    }

    private row(n: Node, depth: number, focusedPath?: string): HTMLElement {
        const isFolder = n.kind === 'folder';
        const open = isFolder && this.expanded.has(n.path);
        const unsaved = !isFolder && this.unsaved.has(n.path);
        const row = h(
            'div',
            {
                class: `tree-row ${n.path === this.active ? 'active' : ''} ${n.path === focusedPath ? 'focused' : ''}`,
                role: 'treeitem',
                'aria-expanded': isFolder ? String(open) : null,
                'aria-selected': String(n.path === this.active),
                'aria-level': String(depth + 1),
                draggable: 'true',
                title: n.path,
                dataset: { path: n.path, kind: n.kind },
                style: `--depth:${depth}`,
            },
            h('span', { class: `tree-chevron ${open ? 'open' : ''}` }, isFolder ? icon('chevron') : null),
            isFolder ? icon(open ? 'folderOpen' : 'folder', 'ic-folder') : fileIcon(n.name),
            h('span', { class: 'tree-name' }, n.name),
            unsaved ? h('span', { class: 'unsaved-dot', title: 'Unsaved changes', 'aria-label': 'unsaved' }) : null,
            h('button', { type: 'button', class: 'tree-more', tabindex: '-1', 'aria-label': `Actions for ${n.name}`, onclick: (e: MouseEvent) => {
                e.stopPropagation();
                const r = (e.currentTarget as HTMLElement).getBoundingClientRect();
                this.showMenu(r.left, r.bottom, n);
            } }, icon('more')),
        );
        row.addEventListener('click', () => {
            this.focusRow(row);
            if (isFolder) this.toggle(n.path);
            else this.actions.open(n.path);
        });
        row.addEventListener('contextmenu', (e) => {
            e.preventDefault();
            this.focusRow(row);
            this.showMenu(e.clientX, e.clientY, n);
        });
        row.addEventListener('dragstart', (e) => {
            e.dataTransfer?.setData('text/x-pyroom-path', n.path);
            if (e.dataTransfer) e.dataTransfer.effectAllowed = 'move';
        });
        if (isFolder) {
            row.addEventListener('dragover', (e) => {
                e.preventDefault();
                row.classList.add('drop-target');
            });
            row.addEventListener('dragleave', () => row.classList.remove('drop-target'));
            row.addEventListener('drop', (e) => {
                e.preventDefault();
                row.classList.remove('drop-target');
                if (e.dataTransfer?.files.length) return this.actions.upload([...e.dataTransfer.files], n.path);
                const from = e.dataTransfer?.getData('text/x-pyroom-path');
                if (from && from !== n.path && !n.path.startsWith(`${from}/`)) this.actions.move(from, n.path);
            });
        }
        return row;
    }

    private inputRow(depth: number): HTMLElement {
        const p = this.pending!;
        const input = h('input', {
            class: 'tree-input', 'aria-label': p.kind === 'file' ? 'New file name' : 'New folder name',
            placeholder: p.kind === 'file' ? 'name.py' : 'folder name', spellcheck: 'false',
        });
        let done = false;
        const finish = async (commit: boolean) => {
            if (done) return;
            done = true;
            // A leading "/" puts the new entry at the top level, whatever is selected.
            const top = input.value.trim().startsWith('/');
            const name = input.value.trim().replace(/^\/+|\/+$/g, '');
            const parent = top ? '' : p.parent;
            this.pending = null;
            if (commit && name) {
                const path = parent ? `${parent}/${name}` : name;
                const ok = await this.actions.create(path, p.kind);
                if (!ok) {
                    this.pending = { parent, kind: p.kind };
                    this.render();
                    const again = this.list.querySelector<HTMLInputElement>('.tree-input');
                    if (again) {
                        again.value = name;
                        again.select();
                    }
                    return;
                }
            }
            this.render();
        };
        input.addEventListener('keydown', (e) => {
            e.stopPropagation();
            if (e.key === 'Enter') void finish(true);
            else if (e.key === 'Escape') void finish(false);
        });
        input.addEventListener('blur', () => {
            if (!this.rerendering) void finish(input.value.trim() !== '');
        });
        const where = h('div', { class: 'tree-hint', style: `--depth:${depth}` });
        const hint = () => {
            const top = input.value.trim().startsWith('/');
            where.textContent = top || !p.parent ? `New ${p.kind} at the top level` : `New ${p.kind} in ${p.parent}/ · start with / for the top level`;
        };
        input.addEventListener('input', hint);
        hint();
        return h('div', { class: 'tree-input-wrap' },
            h('div', { class: 'tree-row tree-input-row', style: `--depth:${depth}` },
                h('span', { class: 'tree-chevron' }), icon(p.kind === 'file' ? 'file' : 'folder'), input),
            where);
    }

    private toggle(path: string): void {
        if (this.expanded.has(path)) this.expanded.delete(path);
        else this.expanded.add(path);
        this.save();
        this.render();
    }

    private focusRow(row: HTMLElement): void {
        this.list.querySelectorAll('.tree-row.focused').forEach((r) => r.classList.remove('focused'));
        row.classList.add('focused');
        this.focusPath = row.dataset.path ?? '';
    }

    private key(e: KeyboardEvent): void {
        const rows = [...this.list.querySelectorAll<HTMLElement>('.tree-row[data-path]')];
        if (!rows.length) return;
        let i = rows.findIndex((r) => r.classList.contains('focused'));
        if (i < 0) i = Math.max(0, rows.findIndex((r) => r.classList.contains('active')));
        const row = rows[i];
        const path = row.dataset.path!;
        const kind = row.dataset.kind as 'file' | 'folder';
        if (e.key === 'F10' && e.shiftKey) {
            e.preventDefault();
            const r = row.getBoundingClientRect();
            this.showMenu(r.left + 24, r.bottom, { name: path.slice(path.lastIndexOf('/') + 1), path, kind, children: [], size: 0 });
            return;
        }
        const go = (j: number) => {
            const r = rows[Math.max(0, Math.min(rows.length - 1, j))];
            this.focusRow(r);
            r.scrollIntoView({ block: 'nearest' });
        };
        switch (e.key) {
            case 'ArrowDown': go(i + 1); break;
            case 'ArrowUp': go(i - 1); break;
            case 'ArrowRight': if (kind === 'folder' && !this.expanded.has(path)) this.toggle(path); break;
            case 'ArrowLeft': if (kind === 'folder' && this.expanded.has(path)) this.toggle(path); break;
            case 'Enter': if (kind === 'folder') this.toggle(path); else this.actions.open(path); break;
            case 'F2': this.actions.rename(path); break;
            case 'ContextMenu': {
                const r = row.getBoundingClientRect();
                this.showMenu(r.left + 24, r.bottom, { name: path.slice(path.lastIndexOf('/') + 1), path, kind, children: [], size: 0 });
                break;
            }
            case 'Delete': this.actions.remove(path, kind); break;
            default: return;
        }
        e.preventDefault();
    }

    private hideMenu = (): void => {
        this.menu?.remove();
        this.menu = null;
    };
    private escMenu = (e: KeyboardEvent): void => {
        if (e.key === 'Escape') this.hideMenu();
    };

    private showMenu(x: number, y: number, n: Node | null): void {
        this.hideMenu();
        const folder = n ? (n.kind === 'folder' ? n.path : n.path.includes('/') ? n.path.slice(0, n.path.lastIndexOf('/')) : '') : '';
        const item = (label: string, fn: () => void, danger = false) =>
            h('button', { type: 'button', role: 'menuitem', class: `menu-item ${danger ? 'danger' : ''}`, onclick: () => { this.hideMenu(); fn(); } }, label);
        const menu = h('div', { class: 'menu', role: 'menu', style: `left:${x}px;top:${y}px` },
            item('New file', () => this.startCreate('file', folder)),
            item('New folder', () => this.startCreate('folder', folder)),
            n ? h('div', { class: 'menu-sep' }) : null,
            n?.kind === 'file' ? item('Download', () => saveUrl(filesApi.url(this.ws, n.path), n.name)) : null,
            n?.kind === 'folder' ? item('Download folder as zip', () => this.actions.downloadZip(n.path)) : null,
            n ? null : h('div', { class: 'menu-sep' }),
            n ? null : item('Download workspace as zip', () => this.actions.downloadZip('')),
            n ? item('Rename / move…', () => this.actions.rename(n.path)) : null,
            n ? item('Delete', () => this.actions.remove(n.path, n.kind), true) : null,
        );
        document.body.appendChild(menu);
        const r = menu.getBoundingClientRect();
        if (r.right > innerWidth) menu.style.left = `${innerWidth - r.width - 4}px`;
        if (r.bottom > innerHeight) menu.style.top = `${innerHeight - r.height - 4}px`;
        this.menu = menu;
        (menu.querySelector('button') as HTMLElement).focus();
        setTimeout(() => document.addEventListener('click', this.hideMenu, { once: true }), 0);
    }
}
