// Co-editing (issue 17): several editors type in one file at once and nobody's keystrokes
// are lost. Theory of operation:
//
// Each open text file gets a Yjs document whose Y.Text is bound to the editor by
// y-codemirror.next (through a Compartment, so it is added once the document is ready). The
// server cannot run Yjs: it keeps per file the updates since the last snapshot
// (GET/POST /api/workspaces/{id}/docs/{path}) and relays each one on the event stream as
// `doc_update`. Joining a file: load that log and apply it; when there is none, start the
// document from the editor's text with a snapshot (two pages racing: the loser gets 409
// doc_exists and loads the winner's). Every local Yjs update is posted, in order; every
// relayed one is applied (updates commute and repeat harmlessly, so order and echoes do not
// matter). Every COMPACT_EVERY updates a page posts a snapshot covering the log as it read
// it, which replaces that part of the log; 409 snapshot_needed makes it do so at once.
//
// Saving stays the file API with etags (files.ts): a co-edited file is `shared`, so a newer
// version on the server is a peer's save (rebase, save again if the text differs), never a
// conflict. A file changed from elsewhere (terminal, run) drops the document (`doc_reset`):
// the page reloads the file and joins again.

import { Compartment, EditorState, type Extension } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { yCollab } from 'y-codemirror.next';
import * as Y from 'yjs';
import { ApiError, encodePath, request } from '../api';
import type { WorkspaceEvents } from './events';
import type { OpenFile } from './files';

const COMPACT_EVERY = 200;

interface LogItem { id: number; snapshot: boolean; update: string }

interface Shared {
    path: string;
    doc: Y.Doc;
    text: Y.Text;
    /** Largest update id seen (applied or posted): where a fetch of missed updates starts. */
    seen: number;
    /** Updates since this page's last snapshot. */
    since: number;
    /** Local updates waiting to be posted, in order. */
    queue: Uint8Array[];
    posting: boolean;
    bound: boolean;
    dead: boolean;
}

export interface CollabHooks {
    /** The page's client id (presence.ts makes it). */
    client: string;
    /** A viewer: the editor takes no typing, and the document is only followed. */
    readOnly: boolean;
    view(): EditorView | null;
    active(): string;
    file(path: string): OpenFile | undefined;
    /** Reload path from the server (its document was dropped). */
    reload(path: string): Promise<void>;
    /** Whether another page is on path: alone, a page edits the file as before (its saves,
     *  without X-Pyroom-Doc, drop any document left over, so none goes stale). */
    together(path: string): boolean;
}

const toB64 = (u: Uint8Array): string => {
    let s = '';
    for (let i = 0; i < u.length; i += 0x8000) s += String.fromCharCode(...u.subarray(i, i + 0x8000));
    return btoa(s);
};
const fromB64 = (s: string): Uint8Array => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));

/** The smallest change that turns `from` into `to` (one replaced middle). */
function diff(from: string, to: string): { from: number; to: number; insert: string } | null {
    if (from === to) return null;
    let a = 0;
    while (a < from.length && a < to.length && from[a] === to[a]) a++;
    let b = 0;
    while (b < from.length - a && b < to.length - a && from[from.length - 1 - b] === to[to.length - 1 - b]) b++;
    return { from: a, to: from.length - b, insert: to.slice(a, to.length - b) };
}

export class Collab {
    private docs = new Map<string, Shared>();
    private joining = new Map<string, Promise<void>>();
    private compartments = new Map<string, Compartment>();
    private disposed = false;

    constructor(private ws: number, private hooks: CollabHooks) {}

    private readOnly(): Extension {
        return this.hooks.readOnly ? EditorState.readOnly.of(true) : [];
    }

    private url(path: string): string {
        return `/api/workspaces/${this.ws}/docs/${encodePath(path)}`;
    }

    /** The editor extension of path: empty until the file's document is bound. */
    extension(path: string): Extension {
        let c = this.compartments.get(path);
        if (!c) this.compartments.set(path, (c = new Compartment()));
        return c.of(this.readOnly());
    }

    /** Before f is shown: brings its editor state up to the shared text (updates that came
     *  while it was not on screen), and joins its document the first time another page is
     *  on the file (force: join now, a peer's document exists). */
    prepare(f: OpenFile, force = false): void {
        const s = this.docs.get(f.path);
        if (s?.bound) {
            const d = diff(f.state.doc.toString(), s.text.toString());
            if (d) f.state = f.state.update({ changes: d }).state;
        } else if (!this.joining.has(f.path) && (force || this.hooks.together(f.path))) {
            const p = this.join(f.path).finally(() => this.joining.delete(f.path));
            this.joining.set(f.path, p);
        }
    }

    private async join(path: string): Promise<void> {
        for (let attempt = 0; attempt < 3 && !this.disposed; attempt++) {
            const f = this.hooks.file(path);
            if (!f || f.status === 'conflict' || f.status === 'deleted') return;
            const s: Shared = { path, doc: new Y.Doc(), text: null!, seen: 0, since: 0, queue: [], posting: false, bound: false, dead: false };
            s.text = s.doc.getText('text');
            try {
                const log = await request<{ items: LogItem[] }>('GET', this.url(path));
                for (const u of log.items) {
                    Y.applyUpdate(s.doc, fromB64(u.update), 'remote');
                    s.seen = Math.max(s.seen, u.id);
                }
            } catch (e) {
                if (!(e instanceof ApiError && e.code === 'no_doc')) return; // no co-editing; the file still saves
                if (this.hooks.readOnly) return; // a viewer cannot start one: the file alone is shown
                s.text.insert(0, f.state.doc.toString());
                try {
                    const r = await request<{ id: number }>('POST', this.url(path), {
                        json: { client: this.hooks.client, update: toB64(Y.encodeStateAsUpdate(s.doc)), snapshot: true, covers: 0 },
                    });
                    s.seen = r.id;
                } catch (e2) {
                    if (e2 instanceof ApiError && e2.code === 'doc_exists') continue; // a peer was first: load theirs
                    return;
                }
            }
            this.bind(s);
            return;
        }
    }

    /** Puts the shared text into the editor and binds them. */
    private bind(s: Shared): void {
        const f = this.hooks.file(s.path);
        const c = this.compartments.get(s.path);
        if (!f || !c || this.disposed) return;
        this.docs.get(s.path)?.doc.destroy();
        this.docs.set(s.path, s);
        s.doc.on('update', (u: Uint8Array, origin: unknown) => {
            if (origin === 'remote' || s.dead) return;
            s.queue.push(u);
            void this.flush(s);
        });
        f.shared = true;
        s.bound = true;
        const view = this.hooks.view();
        // data-shared marks a co-edited editor (the page's look, and tests wait for it).
        const spec = { effects: c.reconfigure([yCollab(s.text, null, { undoManager: false }), EditorView.editorAttributes.of({ 'data-shared': 'true' }), this.readOnly()]) };
        const d = diff(f.state.doc.toString(), s.text.toString());
        if (view && this.hooks.active() === s.path && view.state === f.state) view.dispatch(d ? { ...spec, changes: d } : spec);
        else f.state = f.state.update(d ? { ...spec, changes: d } : spec).state;
    }

    private async flush(s: Shared): Promise<void> {
        if (s.posting) return;
        s.posting = true;
        try {
            while (s.queue.length && !s.dead && !this.disposed) {
                // Merged into one update: fewer requests while someone types fast.
                const u = s.queue.length === 1 ? s.queue[0] : Y.mergeUpdates(s.queue);
                const n = s.queue.length;
                try {
                    const r = await request<{ id: number }>('POST', this.url(s.path), { json: { client: this.hooks.client, update: toB64(u) } });
                    s.queue.splice(0, n);
                    s.seen = Math.max(s.seen, r.id);
                    if (++s.since >= COMPACT_EVERY) await this.compact(s);
                } catch (e) {
                    const code = e instanceof ApiError ? e.code : '';
                    if (code === 'snapshot_needed') {
                        // Our state holds every queued update: the snapshot carries them.
                        s.queue.splice(0, n);
                        await this.compact(s);
                    } else if (code === 'no_doc') {
                        this.reset(s.path);
                    } else {
                        // Offline or refused: keep the queue and try again in a moment.
                        await new Promise((res) => setTimeout(res, 1000));
                    }
                }
            }
        } finally {
            s.posting = false;
        }
    }

    /** Posts a snapshot that replaces the log. It covers only what this page has applied
     *  for certain: the log as read now (relayed events may arrive out of order, the log
     *  may not), so no peer's update is dropped unseen. */
    private async compact(s: Shared): Promise<void> {
        s.since = 0;
        const log = await request<{ items: LogItem[] }>('GET', this.url(s.path));
        let covers = 0;
        for (const u of log.items) {
            Y.applyUpdate(s.doc, fromB64(u.update), 'remote');
            covers = Math.max(covers, u.id);
        }
        if (!covers) return;
        const r = await request<{ id: number }>('POST', this.url(s.path), {
            json: { client: this.hooks.client, update: toB64(Y.encodeStateAsUpdate(s.doc)), snapshot: true, covers },
        });
        s.seen = Math.max(s.seen, r.id);
    }

    /** Takes the documents' events from the workspace's event stream. */
    listen(events: WorkspaceEvents): void {
        events.on('doc_update', (d) => {
            if (d) void this.remote(d as unknown as Parameters<Collab['remote']>[0]);
        });
        events.on('doc_reset', (d) => {
            if (d?.path) void this.reset(d.path);
        });
    }

    /** `doc_update` from the event stream. */
    async remote(d: { path: string; id: number; client: string; snapshot: boolean; update?: string }): Promise<void> {
        const s = this.docs.get(d.path);
        if (!s && !d.snapshot) {
            // A document started after this page opened the file (a viewer's page does not
            // start one): join it now; its log holds this update.
            const f = this.hooks.file(d.path);
            if (f && !this.joining.has(d.path)) this.prepare(f, true);
            return;
        }
        if (!s || s.dead || d.client === this.hooks.client) return;
        if (d.update) {
            Y.applyUpdate(s.doc, fromB64(d.update), 'remote');
            s.seen = Math.max(s.seen, d.id);
        } else if (!d.snapshot) {
            // Too large for the event: fetch it (and what came after) from the log.
            try {
                const log = await request<{ items: LogItem[] }>('GET', `${this.url(d.path)}?after=${d.id - 1}`);
                for (const u of log.items) {
                    Y.applyUpdate(s.doc, fromB64(u.update), 'remote');
                    s.seen = Math.max(s.seen, u.id);
                }
            } catch {
                /* the next update or a reset sorts it out */
            }
        }
    }

    /** `doc_reset`: the file changed elsewhere; reload it and join a new document. */
    async reset(path: string): Promise<void> {
        const s = this.docs.get(path);
        if (!s) return;
        this.unbind(s);
        await this.hooks.reload(path);
        const f = this.hooks.file(path);
        if (f && !this.disposed) this.prepare(f);
    }

    private unbind(s: Shared): void {
        s.dead = true;
        this.docs.delete(s.path);
        s.doc.destroy();
        const f = this.hooks.file(s.path);
        const c = this.compartments.get(s.path);
        if (!f || !c) return;
        f.shared = false;
        const view = this.hooks.view();
        const spec = { effects: c.reconfigure(this.readOnly()) };
        if (view && view.state === f.state) view.dispatch(spec);
        else f.state = f.state.update(spec).state;
    }

    /** The file was closed. */
    close(path: string): void {
        const s = this.docs.get(path);
        this.docs.delete(path);
        if (s && !s.queue.length) {
            s.dead = true;
            s.doc.destroy();
        } // else its last updates are still being posted
        this.compartments.delete(path);
    }

    dispose(): void {
        this.disposed = true;
        for (const s of this.docs.values()) s.doc.destroy();
        this.docs.clear();
    }
}
