// The workspace's event stream (SSE, docs/api.md "Events"): one EventSource per IDE page.
// Modules subscribe with `events.on(name, handler)`; the handler gets the event's JSON data
// (null when it is not JSON). `fileEvents` wires the file events to the tree and the editor.
// Every name listened to is one the server sends: tests/api/test_openapi.py reads the event
// names of the `events.on(...)` calls in web/src/ide/*.ts and compares them with the server's.

import { workspaces as wsApi } from '../api';
import type { WorkspaceEvent } from '../codes';
import { toast } from '../dom';
import type { EditorPanel } from './editorpanel';
import type { FileTree } from './tree';

/** The data of a workspace event (fields vary by event). */
export interface EventData {
    path?: string;
    etag?: string;
    message?: string;
    [key: string]: unknown;
}

export class WorkspaceEvents {
    private es: EventSource | null = null;

    /** client: the page's id among the workspace's pages (presence.ts). */
    constructor(ws: number, client?: string) {
        try {
            this.es = new EventSource(wsApi.eventsUrl(ws, client));
        } catch {
            /* no stream: the IDE polls while a terminal is open */
        }
    }

    /** Calls handler with each `name` event's data ('open' when the stream (re)connects). */
    on(name: WorkspaceEvent | 'open', handler: (d: EventData | null) => void): void {
        const es = this.es;
        if (!es) return;
        if (name === 'open') {
            es.addEventListener('open', () => handler(null));
            return;
        }
        es.addEventListener(name, (ev) => {
            let d: EventData | null = null;
            try {
                d = JSON.parse((ev as MessageEvent).data) as EventData;
            } catch {
                /* not JSON: null */
            }
            handler(d);
        });
    }

    /** Whether the stream is connected now. */
    live(): boolean {
        return this.es?.readyState === EventSource.OPEN;
    }

    close(): void {
        this.es?.close();
    }
}

/** File events: the tree and open files follow changes made elsewhere (the terminal, another
 *  tab, a run's write-back). refreshSoon re-reads the file list (debounced). */
export function fileEvents(events: WorkspaceEvents, tree: FileTree, editor: EditorPanel, refreshSoon: () => void): void {
    events.on('file_changed', (d) => {
        // The tree shows names only: a new file changes it, an edited one does not.
        if (!d?.path || !tree.paths().has(d.path)) refreshSoon();
        if (d?.path && d.etag) void editor.remoteChanged(d.path, d.etag);
    });
    events.on('file_deleted', (d) => {
        refreshSoon();
        if (d?.path) editor.remoteDeleted(d.path);
    });
    events.on('folder_created', () => refreshSoon());
    // Events were lost (this stream fell behind, or the cluster bus reconnected): reload the tree.
    events.on('resync', () => refreshSoon());
    // A move arrives as file_deleted + file_changed (src/api/events.c); a terminal's edit
    // that lost to a newer saved version arrives as conflict.
    events.on('conflict', (d) => {
        toast(`${d?.path ?? 'A file'}: ${d?.message ?? 'changed in the terminal and here at once'}`, 'error');
        refreshSoon();
    });
    events.on('limit_exceeded', (d) => {
        toast(`Not saved: ${d?.path ?? ''} — ${d?.message ?? 'workspace limit exceeded'}`, 'error');
    });
    // The database could not be reached: the server retries the terminal's change.
    events.on('not_saved', (d) => {
        toast(`Not stored yet: ${d?.path ?? 'a file'} — ${d?.message ?? 'the server retries every second'}`, 'info');
    });
    // The node holding this workspace's terminals is draining: they reconnect to
    // another node by themselves once it ends them.
    events.on('server_restarting', (d) => {
        toast(d?.message ?? 'This server is restarting; your terminal will move', 'info');
    });
    events.on('open', () => refreshSoon());
}
