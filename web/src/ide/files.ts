// Open files and their saving. Theory of operation:
//
// Each open file remembers the server's text and etag it is based on. An edit marks it dirty,
// writes a local draft (localStorage, so unsaved text survives a reload, a crash or an
// expired session) and schedules a save. A save is a PUT with If-Match: that etag. If the
// server has moved on (412), the file enters the conflict state and the page shows both
// versions; nothing is overwritten without the user choosing. If the server cannot be
// reached, the file is "offline" and the save is retried with backoff and when the browser
// says it is online again. The draft is removed only once the server holds the same text.
//
// Files stay byte-exact unless edited: the editor's document has lines, not line endings,
// so each file remembers its line ending (the most common one in it: LF, CRLF or CR) and
// whether it began with a UTF-8 byte-order mark, and its text is written back with them.
// A file is dirty when its lines differ from the server's (or the user converted its line
// endings), never because the editor's own representation differs from the bytes.

import { ApiError, bareEtag, files as filesApi, messageOf } from '../api';
import { EditorState, type Extension } from '../editor';
import { merge3 } from './merge';
import type { Text } from '@codemirror/state';

export type Eol = '\n' | '\r\n' | '\r';
export const EOL_NAME: Record<Eol, string> = { '\n': 'LF', '\r\n': 'CRLF', '\r': 'CR' };

/** The most common line ending of text ('\n' when it has none), and whether it has a BOM. */
export function textFormat(text: string): { eol: Eol; bom: boolean } {
    let crlf = 0;
    let lf = 0;
    let cr = 0;
    for (let i = 0; i < text.length; i++) {
        const c = text.charCodeAt(i);
        if (c === 13) {
            if (text.charCodeAt(i + 1) === 10) {
                crlf++;
                i++;
            } else cr++;
        } else if (c === 10) lf++;
    }
    const eol: Eol = crlf > lf && crlf >= cr ? '\r\n' : cr > lf && cr > crlf ? '\r' : '\n';
    return { eol, bom: text.charCodeAt(0) === 0xfeff };
}

export type SaveState = 'loading' | 'saved' | 'dirty' | 'saving' | 'offline' | 'conflict' | 'error' | 'deleted';

export interface OpenFile {
    path: string;
    state: EditorState;
    /** The etag of the server version `base` is (bare, no quotes); '' when it does not exist. */
    etag: string;
    /** The server's text at `etag`, byte for byte. */
    base: string;
    /** `base` as editor lines, to tell whether the document was edited. */
    baseDoc: Text;
    /** Line ending and byte-order mark the text is written with; baseEol is the server's. */
    eol: Eol;
    baseEol: Eol;
    bom: boolean;
    status: SaveState;
    /** A readable reason for 'error' and 'offline'. */
    message: string;
    /** Set in 'conflict': the server's text and etag. */
    theirs: { text: string; etag: string } | null;
    saving: boolean;
    again: boolean;
    timer: number;
    retryMs: number;
    /** Co-edited (collab.ts): the id of the editors' shared document, which the text is, so a
     *  newer version on the server is a peer's save of it, never a conflict: the file rebases
     *  and saves again when its text differs. Its saves name the document: once it is
     *  dropped they store nothing. 0 or unset: not co-edited. */
    shared?: number;
    /** The etag this page's own last save produced ('' before one): when the document is
     *  dropped, collab.ts tells the page's own write from somebody else's by it. */
    savedEtag?: string;
    /** The save in flight, if any. */
    inflight?: Promise<void> | null;
    /** The peer's version (etag) this page last took in the document's log for. */
    caughtUp?: string;
    /** Opened from the draft of a co-edited text (a reload while co-editing): joins the
     *  file's document if it is still there before saving, so the draft's change goes into
     *  the shared text rather than into a plain save that races the peers' ones. */
    fromSharedDraft?: boolean;
}

/** Co-edited files' saves (collab.ts), so that no save stores an older text than the version
 *  it replaces (a page behind on its peers' updates would otherwise undo them in the file). */
export interface SharedSaves {
    /** Takes in every update in the file's document log (before a save based on a peer's
     *  version: that version's edits are all in the log). */
    catchUp(path: string): Promise<void>;
    /** Resolves once this page's edits so far are in the log (before their text is saved). */
    posted(path: string): Promise<void>;
    /** Resolves once a join of the file's document in flight has settled. */
    joined(path: string): Promise<void>;
}

interface Draft {
    text: string;
    base: string;
    at: number;
    /** Written while co-edited: peers' saves move the server on under it, so after a reload
     *  it is merged onto the server's text (from baseText, the text of `base`), not a conflict. */
    shared?: boolean;
    baseText?: string;
}

const AUTOSAVE_MS = 700;

export class FileStore {
    readonly open = new Map<string, OpenFile>();
    /** Reads started before the store existed (the first file shown), by path. */
    readonly prefetched = new Map<string, Promise<{ text: string; etag: string } | null>>();
    /** Called whenever a file's status or text-vs-saved state changes. */
    onChange: (f: OpenFile) => void = () => {};
    /** Called when a file enters the conflict state. */
    onConflict: (f: OpenFile) => void = () => {};

    /** Drafts waiting to be written (writing on every keystroke would be slow for big files). */
    private pendingDrafts = new Set<OpenFile>();
    private draftTimer = 0;

    constructor(readonly ws: number, private extensions: (path: string) => Extension) {
        window.addEventListener('online', this.retryAll);
        window.addEventListener('pagehide', this.flushDrafts);
        document.addEventListener('visibilitychange', this.flushDrafts);
    }

    dispose(): void {
        this.flushDrafts();
        window.removeEventListener('online', this.retryAll);
        window.removeEventListener('pagehide', this.flushDrafts);
        document.removeEventListener('visibilitychange', this.flushDrafts);
        for (const f of this.open.values()) clearTimeout(f.timer);
    }

    private draftSoon(f: OpenFile): void {
        this.pendingDrafts.add(f);
        if (!this.draftTimer) this.draftTimer = window.setTimeout(this.flushDrafts, 150);
    }
    readonly flushDrafts = (): void => {
        clearTimeout(this.draftTimer);
        this.draftTimer = 0;
        for (const f of this.pendingDrafts) if (this.open.get(f.path) === f) this.writeDraft(f);
        this.pendingDrafts.clear();
    };

    private draftKey(path: string): string {
        return `pyroom:draft:${this.ws}:${path}`;
    }
    readDraft(path: string): Draft | null {
        try {
            const v = localStorage.getItem(this.draftKey(path));
            return v ? (JSON.parse(v) as Draft) : null;
        } catch {
            return null;
        }
    }
    private writeDraft(f: OpenFile): void {
        try {
            const text = this.textOf(f);
            if (text === f.base && f.status !== 'deleted') localStorage.removeItem(this.draftKey(f.path));
            else localStorage.setItem(this.draftKey(f.path), JSON.stringify({ text, base: f.etag, at: Date.now(), ...(f.shared ? { shared: true, baseText: f.base } : {}) } satisfies Draft));
        } catch {
            /* storage full: the text is still in memory and being saved */
        }
    }
    private dropDraft(path: string): void {
        try {
            localStorage.removeItem(this.draftKey(path));
        } catch {
            /* ignore */
        }
    }
    /** Paths in this workspace with a local draft (to reopen after a reload). */
    draftPaths(): string[] {
        const prefix = `pyroom:draft:${this.ws}:`;
        const out: string[] = [];
        try {
            for (let i = 0; i < localStorage.length; i++) {
                const k = localStorage.key(i);
                if (k?.startsWith(prefix)) out.push(k.slice(prefix.length));
            }
        } catch {
            /* ignore */
        }
        return out;
    }

    /** A viewer's file is never dirty: what changes in its editor is someone else's typing
     *  (co-editing), theirs to save; the viewer's page keeps no draft and asks nothing on leave. */
    isDirty(f: OpenFile): boolean {
        if (this.readOnly) return false;
        return f.status === 'deleted' || f.eol !== f.baseEol || !f.state.doc.eq(f.baseDoc);
    }

    /** The file's text as it is to be saved: its lines joined by its line ending. */
    textOf(f: OpenFile): string {
        return (f.bom ? '\ufeff' : '') + f.state.doc.sliceString(0, f.state.doc.length, f.eol);
    }

    /** Makes `text` (server bytes) the saved version of f. */
    private setBase(f: OpenFile, text: string, etag: string): void {
        const fmt = textFormat(text);
        f.base = text;
        f.etag = etag;
        f.baseEol = fmt.eol;
        f.baseDoc = EditorState.create({ doc: fmt.bom ? text.slice(1) : text }).doc;
    }

    /** Changes the line ending the file is saved with (the status bar's conversion). */
    setEol(f: OpenFile, eol: Eol): void {
        if (f.eol === eol) return;
        f.eol = eol;
        this.edited(f, f.state);
    }
    anyUnsaved(): boolean {
        for (const f of this.open.values()) if (this.isDirty(f) || f.status === 'saving') return true;
        return false;
    }

    /** An editor state for text (bytes as stored: a BOM is kept aside, not shown). */
    private newState(path: string, text: string): EditorState {
        return EditorState.create({ doc: text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, extensions: this.extensions(path) });
    }

    /** Loads a file (or returns it if open). A local draft that differs is restored. */
    async openFile(path: string): Promise<OpenFile> {
        const existing = this.open.get(path);
        if (existing) return existing;
        const early = this.prefetched.get(path);
        this.prefetched.delete(path);
        const { text, etag } = (early && (await early)) || (await filesApi.read(this.ws, path)); // BinaryFileError passes up
        const again = this.open.get(path);
        if (again) return again;
        const draft = this.readDraft(path);
        const fmt = textFormat(text);
        const state = this.newState(path, text);
        const f: OpenFile = {
            path, state, etag, base: text, baseDoc: state.doc, eol: fmt.eol, baseEol: fmt.eol, bom: fmt.bom,
            status: 'saved', message: '', theirs: null, saving: false, again: false, timer: 0, retryMs: 1000,
        };
        this.open.set(path, f);
        if (draft && draft.text !== text) {
            f.state = this.newState(path, draft.text);
            const dfmt = textFormat(draft.text);
            f.eol = dfmt.eol;
            f.bom = dfmt.bom;
            if (draft.shared && typeof draft.baseText === 'string') {
                // A co-edited file: it joins the document again (if still there) before it
                // saves, so the change goes into the shared text, not a plain save that races
                // the peers' saves of it. Peers may have saved the shared text meanwhile (most
                // of it mine): my unsaved change goes on top of theirs.
                this.mergeOnto(f, merge3(draft.baseText, draft.text, text), text, etag);
                f.fromSharedDraft = true;
            } else if (draft.base === etag) {
                // Unsaved edits of this very version: save them now.
                f.status = 'dirty';
                this.schedule(f, 50);
            } else {
                // The server changed since the draft was made: let the user choose.
                this.enterConflict(f, text, etag);
            }
        } else if (draft) {
            this.dropDraft(path);
        }
        this.onChange(f);
        return f;
    }

    close(path: string): void {
        const f = this.open.get(path);
        if (!f) return;
        clearTimeout(f.timer);
        // A dirty file keeps its draft (and keeps saving in the background).
        if (this.isDirty(f) && f.status !== 'conflict') void this.save(f);
        this.open.delete(path);
    }

    /** Called by the editor on every document change. */
    edited(f: OpenFile, state: EditorState): void {
        f.state = state;
        if (!this.readOnly) this.draftSoon(f);
        if (f.status === 'conflict' || f.status === 'deleted') {
            this.onChange(f);
            return;
        }
        if (f.status !== 'saving' && f.status !== 'offline') f.status = this.isDirty(f) ? 'dirty' : 'saved';
        this.onChange(f);
        this.schedule(f, AUTOSAVE_MS);
    }

    private schedule(f: OpenFile, ms: number): void {
        clearTimeout(f.timer);
        f.timer = window.setTimeout(() => void this.save(f), ms);
    }

    /** Saves now (Ctrl+S) every file that needs it. Resolves when done. */
    async saveAll(): Promise<void> {
        await Promise.all([...this.open.values()].map((f) => this.save(f)));
    }

    private retryAll = (): void => {
        for (const f of this.open.values()) if (f.status === 'offline' || f.status === 'error') void this.save(f);
    };

    /** A viewer's page: nothing is ever written (the server would answer 403 read_only). */
    readOnly = false;

    /** Set by the page when it co-edits (collab.ts). */
    sharedSaves: SharedSaves | null = null;

    async save(f: OpenFile, force = false): Promise<void> {
        clearTimeout(f.timer);
        if (this.readOnly) return;
        // A file deleted or moved elsewhere (the terminal's mv) is written again only when
        // the user asks ("Save it again"), never by autosave, Ctrl+S or Run.
        if ((f.status === 'conflict' || f.status === 'deleted') && !force) return;
        if (f.saving) {
            f.again = true;
            return;
        }
        if (!this.isDirty(f)) {
            if (f.status !== 'saved') {
                f.status = 'saved';
                this.onChange(f);
            }
            this.dropDraft(f.path);
            return;
        }
        let sharedDoc = 0;
        let docGone = false;
        let done = (): void => {};
        f.inflight = new Promise<void>((res) => (done = res));
        f.saving = true;
        f.status = 'saving';
        this.onChange(f);
        try {
            // Co-edited or about to be: the save goes with the document it joins.
            if (this.sharedSaves) await this.sharedSaves.joined(f.path);
            sharedDoc = f.shared ?? 0;
            // Based on a peer's version: take in its edits first (the relayed ones may be late).
            const peers = f.etag;
            if (sharedDoc && this.sharedSaves && peers && peers !== f.savedEtag && peers !== f.caughtUp) {
                await this.sharedSaves.catchUp(f.path);
                f.caughtUp = peers;
                if (!this.isDirty(f)) {
                    f.status = 'saved';
                    this.dropDraft(f.path);
                    this.onChange(f);
                    return;
                }
            }
            const text = this.textOf(f);
            const doc = f.state.doc;
            const eol = f.eol;
            sharedDoc = f.shared ?? 0;
            // The edits behind this text go to the log before the text goes to the file.
            if (sharedDoc && this.sharedSaves) await this.sharedSaves.posted(f.path);
            const r = await filesApi.write(this.ws, f.path, text, f.etag || null, !f.etag, sharedDoc);
            f.etag = bareEtag(r.etag);
            f.savedEtag = f.etag;
            f.base = text;
            f.baseDoc = doc;
            f.baseEol = eol;
            f.retryMs = 1000;
            f.message = '';
            f.status = this.isDirty(f) ? 'dirty' : 'saved';
            this.writeDraft(f);
            if (f.status === 'dirty') this.schedule(f, AUTOSAVE_MS);
        } catch (e) {
            const err = e as ApiError;
            if (err.code === 'no_doc') {
                // A co-edited save, but the document was dropped (the file was written
                // elsewhere): collab.ts resets the file to what is stored now.
                f.status = 'dirty';
                docGone = true;
            } else if (err.status === 412 || (err.status === 409 && err.code === 'exists') || err.code === 'etag_mismatch') {
                try {
                    const cur = await filesApi.read(this.ws, f.path);
                    // Sent while co-edited: a peer's save, or a write elsewhere whose
                    // doc_reset is on its way (collab.ts then resets the file); never a conflict.
                    if (f.shared || sharedDoc) this.rebase(f, cur.text, cur.etag);
                    else this.enterConflict(f, cur.text, cur.etag);
                } catch (e2) {
                    f.status = 'error';
                    f.message = messageOf(e2);
                }
            } else if (err.status === 0 || err.status >= 500 || err.status === 401 || err.status === 429) {
                f.status = 'offline';
                f.message = err.status === 401 ? 'Signed out: changes are kept in this browser until you sign in.' : err.message;
                f.retryMs = Math.min(f.retryMs * 2, 30000);
                if (err.status !== 401) this.schedule(f, f.retryMs);
            } else if (err.status === 404 && err.code !== 'not_found') {
                f.status = 'error';
                f.message = err.message;
            } else {
                f.status = 'error';
                f.message = err.message;
            }
        } finally {
            f.saving = false;
            f.inflight = null;
            done();
        }
        this.onChange(f);
        if (docGone) {
            f.again = false;
            this.onDocGone(f);
            return;
        }
        if (f.again) {
            f.again = false;
            if (f.status === 'dirty' || f.status === 'saved') void this.save(f);
        }
    }

    private enterConflict(f: OpenFile, theirs: string, etag: string): void {
        if (theirs === this.textOf(f)) {
            // Same text on both sides: nothing to choose.
            this.setBase(f, theirs, etag);
            f.status = 'saved';
            f.theirs = null;
            this.dropDraft(f.path);
            return;
        }
        f.status = 'conflict';
        f.theirs = { text: theirs, etag };
        this.onConflict(f);
    }

    /** Conflict resolution: keep my text, overwriting the server's newer version. */
    async keepMine(f: OpenFile): Promise<void> {
        if (!f.theirs) return;
        this.setBase(f, f.theirs.text, f.theirs.etag);
        f.theirs = null;
        f.status = 'dirty';
        await this.save(f, true);
    }

    /** Conflict resolution: take the server's text (mine is dropped). Returns the new state. */
    useTheirs(f: OpenFile): void {
        if (!f.theirs) return;
        this.setBase(f, f.theirs.text, f.theirs.etag);
        f.state = this.newState(f.path, f.theirs.text);
        const fmt = textFormat(f.theirs.text);
        f.eol = fmt.eol;
        f.bom = fmt.bom;
        f.theirs = null;
        f.status = 'saved';
        this.dropDraft(f.path);
        this.onChange(f);
    }

    /** A co-edited file learns the server's newer version (a peer's save): that becomes its
     *  base, and it saves again if its shared text differs. */
    private rebase(f: OpenFile, text: string, etag: string): void {
        this.setBase(f, text, etag);
        f.status = this.isDirty(f) ? 'dirty' : 'saved';
        if (f.status === 'dirty') {
            this.schedule(f, AUTOSAVE_MS);
            this.draftSoon(f); // the draft's base follows, or a reload would see a conflict
        } else this.dropDraft(f.path);
    }

    /** Resolves once f has no save in flight. */
    async idle(f: OpenFile): Promise<void> {
        while (f.inflight) await f.inflight;
    }

    /** A co-edited file's document was dropped and `text` (etag) is stored now. keepMine: the
     *  page's own save stored it, so its editor text stays (and saves again if it differs);
     *  otherwise the text is somebody else's (a run, a terminal, a plain save) and the file
     *  takes it. Returns the editor text the file is to show. The caller puts it into the
     *  editor and then calls edited(). */
    resetTo(f: OpenFile, text: string, etag: string, keepMine: boolean): string {
        clearTimeout(f.timer);
        this.setBase(f, text, etag);
        f.theirs = null;
        if (f.status === 'conflict' || f.status === 'deleted') f.status = 'dirty';
        if (keepMine) return f.state.doc.toString();
        const fmt = textFormat(text);
        f.eol = fmt.eol;
        f.bom = fmt.bom;
        return f.baseDoc.toString();
    }

    /** Called when a co-edited save finds the file's document gone (collab.ts resets it). */
    onDocGone: (f: OpenFile) => void = () => {};

    /** The server says the file changed (terminal, another tab). Returns the text the
     *  file's editor is to show now (the caller puts it in, keeping the cursor), or null to
     *  leave the editor as it is. */
    async remoteChanged(path: string, etag: string): Promise<{ f: OpenFile; show: string } | null> {
        const f = this.open.get(path);
        if (!f || bareEtag(etag) === f.etag || f.saving) return null;
        const cur = await filesApi.read(this.ws, path);
        if (cur.etag === f.etag || this.open.get(path) !== f || f.saving) return null;
        if (f.shared) {
            this.rebase(f, cur.text, cur.etag);
            this.onChange(f);
            return null; // the shared document, not the server's bytes, is the editor's text
        }
        if (f.fromSharedDraft && f.status !== 'conflict' && f.status !== 'deleted') {
            // A reload's draft of a co-edited text whose document is not joined yet: a peer
            // saved the shared text meanwhile. My unsaved change goes on top (as at open).
            const show = this.mergeOnto(f, merge3(f.base, this.textOf(f), cur.text), cur.text, cur.etag);
            this.onChange(f);
            return { f, show };
        }
        if (!this.isDirty(f) && f.status !== 'conflict') {
            this.setBase(f, cur.text, cur.etag);
            const fmt = textFormat(cur.text);
            f.eol = fmt.eol;
            f.bom = fmt.bom;
            f.status = 'saved';
            this.onChange(f);
            return { f, show: f.baseDoc.toString() };
        }
        this.enterConflict(f, cur.text, cur.etag);
        this.onChange(f);
        return null;
    }

    /** A draft of a co-edited text meets a newer stored version `text` (a peer's save of the
     *  shared text): f takes `merged` (its change on top of text), based on text. Returns the
     *  merged text as the editor shows it; the file saves it soon when it differs. */
    private mergeOnto(f: OpenFile, merged: string, text: string, etag: string): string {
        this.setBase(f, text, etag);
        const fmt = textFormat(merged);
        f.eol = fmt.eol;
        f.bom = fmt.bom;
        f.state = this.newState(f.path, merged);
        f.status = this.isDirty(f) ? 'dirty' : 'saved';
        if (f.status === 'dirty') this.schedule(f, 50);
        else this.dropDraft(f.path);
        return f.state.doc.toString();
    }

    remoteDeleted(path: string): OpenFile | null {
        const f = this.open.get(path);
        if (!f) return null;
        f.status = 'deleted';
        f.etag = '';
        clearTimeout(f.timer);
        this.writeDraft(f);
        this.onChange(f);
        return f;
    }

    /** After a rename or move through the tree: re-key open files and their drafts. */
    renamed(from: string, to: string): void {
        for (const [p, f] of [...this.open]) {
            let np: string | null = null;
            if (p === from) np = to;
            else if (p.startsWith(`${from}/`)) np = to + p.slice(from.length);
            if (np === null) continue;
            this.open.delete(p);
            this.dropDraft(p);
            f.path = np;
            this.open.set(np, f);
            this.writeDraft(f);
        }
    }

    forget(path: string): void {
        for (const p of [...this.open.keys()]) {
            if (p === path || p.startsWith(`${path}/`)) {
                clearTimeout(this.open.get(p)!.timer);
                this.open.delete(p);
                this.dropDraft(p);
            }
        }
    }
}

export const SAVE_LABEL: Record<SaveState, string> = {
    loading: 'Loading…',
    saved: 'Saved',
    dirty: 'Unsaved changes',
    saving: 'Saving…',
    offline: 'Offline — kept locally',
    conflict: 'Conflict',
    error: 'Not saved',
    deleted: 'Deleted on the server',
};
