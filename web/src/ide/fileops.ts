// What the file tree's commands do: create, upload, rename/move and delete files and folders
// (the tree's actions) through the API, keeping the open tabs and unsaved text in step, and re-reading the file
// list (`refresh`) when files change elsewhere.

import { ApiError, bareEtag, files as filesApi, messageOf, type Limits } from '../api';
import { confirmDialog, fmtBytes, promptDialog, saveUrl, toast } from '../dom';
import type { EditorPanel } from './editorpanel';
import type { FileStore } from './files';
import type { FileTree } from './tree';

export class FileOps {
    /** The server's limits, once known (uploads are checked against them first). */
    limits: Limits | null = null;
    /** Called after a move (the Run button may name a moved file). */
    onMoved: () => void = () => {};
    private timer = 0;
    private disposed = false;

    constructor(private ws: number, private store: FileStore, private tree: FileTree, private editor: EditorPanel) {}

    dispose(): void {
        this.disposed = true;
        clearTimeout(this.timer);
    }

    async refresh(): Promise<void> {
        try {
            const l = await filesApi.list(this.ws);
            if (this.disposed) return;
            this.tree.setEntries(l.items);
            // Open files changed elsewhere (a run's write-back, the terminal, another tab)
            // are reloaded, or shown as a conflict when they have unsaved edits here.
            const etags = new Map(l.items.filter((e) => e.kind === 'file').map((e) => [e.path, e.etag]));
            for (const f of this.store.open.values()) {
                const et = etags.get(f.path);
                if (et && bareEtag(et) !== f.etag && !f.saving && f.status !== 'conflict') void this.editor.remoteChanged(f.path, et);
            }
        } catch (e) {
            if (!(e instanceof ApiError && e.status === 401)) toast(`Could not refresh the file list: ${messageOf(e)}`, 'error');
        }
    }

    refreshSoon(): void {
        clearTimeout(this.timer);
        this.timer = window.setTimeout(() => void this.refresh(), 150);
    }

    async create(path: string, kind: 'file' | 'folder'): Promise<boolean> {
        try {
            if (kind === 'folder') await filesApi.mkdir(this.ws, path);
            else await filesApi.write(this.ws, path, '', null, true);
        } catch (e) {
            const msg = e instanceof ApiError && (e.status === 412 || e.code === 'exists') ? `${path} already exists.` : messageOf(e);
            toast(msg, 'error');
            return false;
        }
        await this.refresh();
        if (kind === 'file') await this.editor.open(path);
        return true;
    }

    /** Downloads a folder ('' the workspace) as a zip, named by the server. What the
     *  server would refuse (413: more than a zip download may hold) is said here instead of
     *  as a failed download, from the file list's sizes. */
    downloadZip(folder: string): void {
        const lim = this.limits?.archive;
        const inside = this.tree.listing().filter((e) => !folder || e.path === folder || e.path.startsWith(`${folder}/`));
        const bytes = inside.reduce((n, e) => n + e.size, 0);
        const what = folder ? `"${folder}"` : 'This workspace';
        if (lim && inside.length > lim.max_files) {
            toast(`${what} holds ${inside.length.toLocaleString()} files and folders; a zip download may hold ${lim.max_files.toLocaleString()}.`, 'error', 8000);
            return;
        }
        if (lim && bytes > lim.max_bytes) {
            toast(`${what} holds ${fmtBytes(bytes)}; a zip download may hold ${fmtBytes(lim.max_bytes)}.`, 'error', 8000);
            return;
        }
        saveUrl(filesApi.archiveUrl(this.ws, folder));
    }

    async upload(list: File[], folder: string): Promise<void> {
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
                await filesApi.write(this.ws, path, file);
                done++;
            } catch (e) {
                toast(`${file.name}: ${messageOf(e)}`, 'error');
            }
        }
        if (done) toast(`Uploaded ${done} file${done === 1 ? '' : 's'}.`, 'ok', 2000);
        await this.refresh();
        if (folder) this.tree.reveal(`${folder}/x`);
        // A replaced file that was open shows its new content.
        for (const file of list) this.editor.forgetBinary(folder ? `${folder}/${file.name}` : file.name);
        const active = this.editor.active;
        if (active && !this.store.open.has(active)) await this.editor.open(active);
    }

    async rename(path: string): Promise<void> {
        const to = await promptDialog('Rename or move', 'New path (use / for folders)', path, 'Rename');
        if (!to || to === path) return;
        await this.doMove(path, to);
    }

    async move(from: string, toFolder: string): Promise<void> {
        const name = from.slice(from.lastIndexOf('/') + 1);
        const to = toFolder ? `${toFolder}/${name}` : name;
        if (to !== from) await this.doMove(from, to);
    }

    private async doMove(from: string, to: string): Promise<void> {
        // Unsaved text goes first, so it moves with the file.
        await Promise.all([...this.store.open.values()].filter((f) => f.path === from || f.path.startsWith(`${from}/`)).map((f) => this.store.save(f)));
        try {
            await filesApi.move(this.ws, from, to);
        } catch (e) {
            toast(e instanceof ApiError && e.code === 'exists' ? `${to} already exists.` : messageOf(e), 'error');
            return;
        }
        this.store.renamed(from, to);
        this.editor.moved(from, to);
        await this.refresh();
        this.tree.reveal(to);
        if (this.editor.active) this.tree.setActive(this.editor.active);
        this.onMoved();
    }

    async remove(path: string, kind: 'file' | 'folder'): Promise<void> {
        const ok = await confirmDialog(kind === 'folder' ? 'Delete folder?' : 'Delete file?',
            kind === 'folder' ? [`"${path}" and everything in it will be deleted.`] : [`"${path}" will be deleted.`], 'Delete');
        if (!ok) return;
        try {
            await filesApi.remove(this.ws, path);
        } catch (e) {
            toast(messageOf(e), 'error');
            return;
        }
        this.store.forget(path);
        this.editor.removed(path);
        await this.refresh();
        this.editor.reshow();
    }
}
