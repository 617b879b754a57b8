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
// Joining keeps what the page typed meanwhile: the editor's text may have moved on from the
// text the join started from (typing while the log loads), and that change is merged into
// the shared text as a local edit (merge.ts), never overwritten by it.
//
// The editor shows one file at a time (one EditorView, a state per file), and
// y-codemirror.next's sync lives in the view: a co-edited file in a background tab follows
// its Y.Text here instead (its state takes each remote change), so its text, and therefore
// what its autosave stores, is never older than the shared one.
//
// Saving stays the file API with etags (files.ts): a co-edited file is `shared`, its saves
// say so (X-Pyroom-Doc: 1), and a newer version on the server is a peer's save (rebase, save
// again if the text differs), never a conflict. No save stores an older text than the one
// it replaces (SharedSaves): a page posts the updates behind a text before it saves that
// text, so every stored version's edits are in the document's log first; and a page that
// last learned of a peer's save first takes in the log (catchUp), so its text holds every
// edit of the version its save replaces (If-Match), even when the relayed updates are late. A file changed from elsewhere (terminal, run,
// a page's plain save) drops the document (`doc_reset`, before that change's event; a
// co-edited save that comes too late gets 409 `no_doc`): the page reads the file; when the
// stored bytes are its own last save it keeps its text, otherwise the editor takes the stored
// bytes. Then it joins again if another page is on the file.

import { Compartment, EditorState, type Extension } from '@codemirror/state';
import { EditorView } from '@codemirror/view';
import { yCollab, ySyncAnnotation, ySyncFacet } from 'y-codemirror.next';
import * as Y from 'yjs';
import { ApiError, docs as docsApi, files as filesApi } from '../api';
import type { WorkspaceEvents } from './events';
import type { FileStore, OpenFile, SharedSaves } from './files';
import { diff, mapChange } from './merge';

const COMPACT_EVERY = 200;

interface Shared {
    path: string;
    /** The document's id on the server: every post names it, and relayed updates of another
     *  document (one dropped before this one started) are ignored, as the server refuses
     *  this page's updates once this one is dropped. Two documents' histories are unrelated:
     *  an update of one applied to the other would add its text again. */
    id: number;
    doc: Y.Doc;
    text: Y.Text;
    /** Largest update id seen (applied or posted): where a fetch of missed updates starts. */
    seen: number;
    /** Updates since this page's last snapshot. */
    since: number;
    /** Local updates waiting to be posted, in order. */
    queue: Uint8Array[];
    /** Local updates made and posted so far (counts), and the saves waiting for theirs. */
    made: number;
    sent: number;
    waiters: { mark: number; res: () => void }[];
    posting: boolean;
    bound: boolean;
    dead: boolean;
    /** Follows the Y.Text into the file's state while the file is not in the view. */
    observer?: (e: Y.YTextEvent, tr: Y.Transaction) => void;
}

export interface CollabHooks {
    /** The page's client id (presence.ts makes it). */
    client: string;
    /** A viewer: the editor takes no typing, and the document is only followed. */
    readOnly: boolean;
    view(): EditorView | null;
    active(): string;
    /** The open files: their text, saving and base (files.ts). */
    store: FileStore;
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

export class Collab implements SharedSaves {
    private docs = new Map<string, Shared>();
    private joining = new Map<string, Promise<void>>();
    private compartments = new Map<string, Compartment>();
    private resetting = new Set<string>();
    /** Paths to try joining again once their join in flight settles (true: force): a reason
     *  to join (a peer's document started, a reset) that came while a join was already
     *  loading the log is not lost when that join ends without binding. */
    private rejoin = new Map<string, boolean>();
    /** Counts the resets of each path: a join that started before one does not bind. */
    private gens = new Map<string, number>();
    private disposed = false;

    constructor(private ws: number, private hooks: CollabHooks) {}

    private readOnly(): Extension {
        return this.hooks.readOnly ? EditorState.readOnly.of(true) : [];
    }

    private file(path: string): OpenFile | undefined {
        return this.hooks.store.open.get(path);
    }

    /** Whether the view shows path's state now (y-codemirror.next then keeps it in step). */
    private inView(path: string, s?: Shared): boolean {
        const view = this.hooks.view();
        if (!view || this.hooks.active() !== path || view.state !== this.file(path)?.state) return false;
        return !s || view.state.facet(ySyncFacet)?.ytext === s.text;
    }

    /** Puts text into path's editor as one smallest change (the view's, or the stored state). */
    private setText(f: OpenFile, text: string): void {
        const d = diff(f.state.doc.toString(), text);
        if (!d) return;
        const view = this.hooks.view();
        if (view && this.inView(f.path)) view.dispatch({ changes: d });
        else f.state = f.state.update({ changes: d }).state;
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
        } else if (this.joining.has(f.path)) {
            if (force) this.rejoin.set(f.path, true);
        } else if (!this.resetting.has(f.path) && (force || this.hooks.together(f.path) || f.fromSharedDraft)) {
            // A draft of a co-edited text joins the document left on the server, if any; it
            // starts none (alone, the file saves as before).
            const p = this.join(f.path, force || this.hooks.together(f.path)).finally(() => {
                f.fromSharedDraft = false;
                this.joining.delete(f.path);
                const again = this.rejoin.get(f.path);
                this.rejoin.delete(f.path);
                const g = this.file(f.path);
                if (again !== undefined && g && !this.docs.get(f.path)?.bound && !this.disposed) this.prepare(g, again);
            });
            this.joining.set(f.path, p);
        }
    }

    private async join(path: string, start = true): Promise<void> {
        const gen = this.gens.get(path) ?? 0;
        for (let attempt = 0; attempt < 3 && !this.disposed; attempt++) {
            const f = this.file(path);
            if (!f || f.status === 'conflict' || f.status === 'deleted') return;
            const s: Shared = {
                path, id: 0, doc: new Y.Doc(), text: null!, seen: 0, since: 0, queue: [], made: 0, sent: 0, waiters: [], posting: false, bound: false, dead: false,
            };
            s.text = s.doc.getText('text');
            // The text the page's own change is measured from: what it starts the document
            // with, or (joining a peer's) the stored version the page's editor is based on.
            let origin = f.baseDoc.toString();
            try {
                const log = await docsApi.log(this.ws, path);
                s.id = log.doc;
                for (const u of log.items) {
                    Y.applyUpdate(s.doc, fromB64(u.update), 'remote');
                    s.seen = Math.max(s.seen, u.id);
                }
            } catch (e) {
                if (!(e instanceof ApiError && e.code === 'no_doc')) return; // no co-editing; the file still saves
                if (this.hooks.readOnly || !start) return; // a viewer cannot start one: the file alone is shown
                origin = f.state.doc.toString();
                s.text.insert(0, origin);
                try {
                    const r = await docsApi.post(this.ws, path, { client: this.hooks.client, update: toB64(Y.encodeStateAsUpdate(s.doc)), snapshot: true, covers: 0 });
                    s.seen = r.id;
                    s.id = r.doc;
                } catch (e2) {
                    if (e2 instanceof ApiError && e2.code === 'doc_exists') continue; // a peer was first: load theirs
                    return;
                }
            }
            // Closed meanwhile, or the document was dropped (reset joins again afterwards).
            if (this.file(path) !== f || (this.gens.get(path) ?? 0) !== gen) return;
            this.bind(s, f, origin);
            return;
        }
    }

    /** Binds the shared text to f's editor. What the page typed since `origin` (while the
     *  document loaded) goes into the shared text as its own edit; then the editor shows it. */
    private bind(s: Shared, f: OpenFile, origin: string): void {
        const c = this.compartments.get(s.path);
        if (!c || this.disposed) return;
        this.docs.get(s.path)?.doc.destroy();
        this.docs.set(s.path, s);
        s.doc.on('update', (u: Uint8Array, o: unknown) => {
            if (o === 'remote' || s.dead) return;
            s.queue.push(u);
            s.made++;
            void this.flush(s);
        });
        if (!this.hooks.readOnly) {
            const mine = diff(origin, f.state.doc.toString());
            const m = mine && mapChange(mine, diff(origin, s.text.toString()));
            if (m) {
                s.doc.transact(() => {
                    if (m.to > m.from) s.text.delete(m.from, m.to - m.from);
                    if (m.insert) s.text.insert(m.from, m.insert);
                }, 'join');
            }
        }
        // A background tab's state follows the shared text (the view's sync does it for the
        // file on screen).
        s.observer = (e: Y.YTextEvent) => {
            const file = this.file(s.path);
            if (!file || s.dead || this.inView(s.path, s)) return;
            const changes: { from: number; to: number; insert: string }[] = [];
            let pos = 0;
            for (const d of e.delta) {
                if (d.insert != null) changes.push({ from: pos, to: pos, insert: d.insert as string });
                else if (d.delete != null) {
                    changes.push({ from: pos, to: pos + d.delete, insert: '' });
                    pos += d.delete;
                } else pos += d.retain ?? 0;
            }
            if (!changes.length) return;
            const conf = file.state.facet(ySyncFacet);
            this.hooks.store.edited(file, file.state.update({ changes, annotations: conf ? ySyncAnnotation.of(conf) : [] }).state);
        };
        s.text.observe(s.observer);
        f.shared = s.id;
        s.bound = true;
        const view = this.hooks.view();
        // data-shared marks a co-edited editor (the page's look, and tests wait for it).
        const spec = { effects: c.reconfigure([yCollab(s.text, null, { undoManager: false }), EditorView.editorAttributes.of({ 'data-shared': 'true' }), this.readOnly()]) };
        const d = diff(f.state.doc.toString(), s.text.toString());
        if (view && this.inView(s.path)) view.dispatch(d ? { ...spec, changes: d } : spec);
        else f.state = f.state.update(d ? { ...spec, changes: d } : spec).state;
        this.hooks.store.edited(f, f.state);
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
                    const r = await docsApi.post(this.ws, s.path, { client: this.hooks.client, doc: s.id, update: toB64(u) });
                    s.queue.splice(0, n);
                    this.sent(s, n);
                    s.seen = Math.max(s.seen, r.id);
                    if (++s.since >= COMPACT_EVERY) await this.compact(s);
                } catch (e) {
                    const code = e instanceof ApiError ? e.code : '';
                    if (code === 'snapshot_needed') {
                        // Our state holds every queued update: the snapshot carries them.
                        s.queue.splice(0, n);
                        await this.compact(s);
                        this.sent(s, n);
                    } else if (code === 'no_doc') {
                        void this.reset(s.path);
                    } else if (code === 'read_only' || code === 'not_found') {
                        this.sent(s, s.queue.length);
                        s.queue.length = 0; // no longer allowed (demoted, removed): nothing to retry
                    } else {
                        // Offline or refused: keep the queue and try again in a moment. A save
                        // waiting for these goes on meanwhile (offline, it says so and keeps
                        // the text locally, as any save does).
                        for (const w of s.waiters.splice(0)) w.res();
                        await new Promise((res) => setTimeout(res, 1000));
                    }
                }
            }
        } finally {
            s.posting = false;
            if (s.dead || this.disposed) this.sent(s, Infinity); // nothing more will be posted
        }
    }

    /** n more local updates are in the log (Infinity: none will be, the document is gone). */
    private sent(s: Shared, n: number): void {
        s.sent = n === Infinity ? s.made : s.sent + n;
        const ready = s.waiters.filter((w) => w.mark <= s.sent);
        s.waiters = s.waiters.filter((w) => w.mark > s.sent);
        for (const w of ready) w.res();
    }

    /** SharedSaves.posted (files.ts): resolves once every local update made so far, and so
     *  every edit of this page in the text about to be saved, is in the document's log. */
    posted(path: string): Promise<void> {
        const s = this.docs.get(path);
        if (!s || s.dead || s.sent >= s.made) return Promise.resolve();
        const mark = s.made;
        return new Promise((res) => s.waiters.push({ mark, res }));
    }

    /** SharedSaves.joined (files.ts). */
    async joined(path: string): Promise<void> {
        await this.joining.get(path);
    }

    /** SharedSaves.catchUp (files.ts): applies the document's whole log (a snapshot and the
     *  updates since), so the text holds every edit of every stored version: each was posted
     *  before its save. Update ids are shared by all documents, so no smaller "after" is safe. */
    async catchUp(path: string): Promise<void> {
        const s = this.docs.get(path);
        if (!s || s.dead) return;
        try {
            const log = await docsApi.log(this.ws, path);
            if (log.doc !== s.id || s.dead) return; // replaced: the save gets 409 no_doc
            for (const u of log.items) {
                Y.applyUpdate(s.doc, fromB64(u.update), 'remote');
                s.seen = Math.max(s.seen, u.id);
            }
        } catch {
            /* dropped or offline: the save itself finds out */
        }
    }

    /** Posts a snapshot that replaces the log. It covers only what this page has applied
     *  for certain: the log as read now (relayed events may arrive out of order, the log
     *  may not), so no peer's update is dropped unseen. */
    private async compact(s: Shared): Promise<void> {
        s.since = 0;
        try {
            const log = await docsApi.log(this.ws, s.path);
            // Replaced meanwhile: the new document's updates must not go into this one (its
            // snapshot would then carry both texts); this one's reset is on its way.
            if (log.doc !== s.id || s.dead) return void this.reset(s.path);
            let covers = 0;
            for (const u of log.items) {
                Y.applyUpdate(s.doc, fromB64(u.update), 'remote');
                covers = Math.max(covers, u.id);
            }
            if (!covers) return;
            const r = await docsApi.post(this.ws, s.path, { client: this.hooks.client, doc: s.id, update: toB64(Y.encodeStateAsUpdate(s.doc)), snapshot: true, covers });
            s.seen = Math.max(s.seen, r.id);
        } catch (e) {
            // Dropped: reset. Otherwise the next compaction (or snapshot_needed) tries again.
            if (e instanceof ApiError && e.code === 'no_doc') void this.reset(s.path);
        }
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
    async remote(d: { path: string; doc: number; id: number; client: string; snapshot: boolean; update?: string }): Promise<void> {
        const s = this.docs.get(d.path);
        if (!s) {
            // A document started after this page opened the file (a viewer's page does not
            // start one): join it now; its log holds this update.
            // A join in flight may have read "no document" just before this one started: it
            // tries again when it ends (prepare remembers).
            const f = this.file(d.path);
            if (f) this.prepare(f, true);
            return;
        }
        // Another document's update (the dropped one's, posted before the drop) must not go
        // into this one.
        if (s.dead || d.client === this.hooks.client || d.doc !== s.id) return;
        if (d.update) {
            Y.applyUpdate(s.doc, fromB64(d.update), 'remote');
            s.seen = Math.max(s.seen, d.id);
        } else if (!d.snapshot) {
            // Too large for the event: fetch it (and what came after) from the log.
            try {
                const log = await docsApi.log(this.ws, d.path, d.id - 1);
                if (log.doc !== s.id || s.dead) return; // replaced meanwhile: its reset comes
                for (const u of log.items) {
                    Y.applyUpdate(s.doc, fromB64(u.update), 'remote');
                    s.seen = Math.max(s.seen, u.id);
                }
            } catch {
                /* the next update or a reset sorts it out */
            }
        }
    }

    /** `doc_reset` (or, saved, a co-edited save's 409 no_doc): the document was dropped because the
     *  file was written. The page's own write keeps its text; anybody else's replaces it.
     *  Then the page joins a new document if another page is on the file. */
    async reset(path: string, saved = false): Promise<void> {
        if (this.resetting.has(path)) return;
        this.gens.set(path, (this.gens.get(path) ?? 0) + 1); // a join in flight binds nothing
        const f = this.file(path);
        const s = this.docs.get(path);
        if (s) this.unbind(s);
        // A join in flight binds nothing now (its generation is old): it tries again once it
        // ends, if another page is still on the file.
        if (this.joining.has(path) && !this.rejoin.has(path)) this.rejoin.set(path, false);
        // Not co-edited here (saved: a co-edited save was refused): the file events do it.
        if (!f || !(s || saved)) return;
        this.resetting.add(path);
        try {
            await this.hooks.store.idle(f); // a save in flight decides what is stored
            const cur = await filesApi.read(this.ws, path);
            if (this.file(path) !== f || this.disposed) return;
            const mine = cur.etag === f.savedEtag || cur.text === this.hooks.store.textOf(f);
            this.setText(f, this.hooks.store.resetTo(f, cur.text, cur.etag, mine));
            this.hooks.store.edited(f, f.state);
        } catch {
            /* unreadable now (deleted, offline): the file events and saves take it from here */
        } finally {
            this.resetting.delete(path);
        }
        const g = this.file(path);
        if (g && !this.disposed) this.prepare(g);
    }

    private unbind(s: Shared): void {
        s.dead = true;
        this.sent(s, Infinity);
        this.docs.delete(s.path);
        if (s.observer) s.text.unobserve(s.observer);
        s.doc.destroy();
        const f = this.file(s.path);
        const c = this.compartments.get(s.path);
        if (!f || !c) return;
        f.shared = 0;
        const view = this.hooks.view();
        const spec = { effects: c.reconfigure(this.readOnly()) };
        if (view && this.inView(s.path)) view.dispatch(spec);
        else f.state = f.state.update(spec).state;
    }

    /** The file was closed. */
    close(path: string): void {
        const s = this.docs.get(path);
        this.docs.delete(path);
        if (s && !s.queue.length) {
            s.dead = true;
            this.sent(s, Infinity);
            s.doc.destroy();
        } // else its last updates are still being posted
        this.compartments.delete(path);
    }

    dispose(): void {
        this.disposed = true;
        for (const s of this.docs.values()) {
            this.sent(s, Infinity);
            s.doc.destroy();
        }
        this.docs.clear();
    }
}
