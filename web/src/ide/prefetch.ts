// What the IDE needs from the API before it can show anything: the workspace, its file
// list and the file shown first. Asked for by the small entry bundle as soon as the route
// is known, so these requests run while the editor's code is still downloading.

import { files as filesApi, workspaces as wsApi, type FileEntry, type Workspace } from '../api';
import { prefs } from '../dom';

export interface IdeData {
    ws: Promise<Workspace>;
    entries: Promise<FileEntry[]>;
    /** The file most likely shown first (the last active tab, or main.py) and its read. */
    first: { path: string; content: Promise<{ text: string; etag: string } | null> };
}

export function prefetchIde(id: number): IdeData {
    const saved = prefs.get<{ active?: string }>(`tabs:${id}`, {});
    const path = saved.active || 'main.py';
    const ws = wsApi.get(id);
    const entries = filesApi.list(id).then((l) => l.items);
    // Errors surface through ws/entries; an unhandled rejection here would only be noise.
    ws.catch(() => {});
    entries.catch(() => {});
    // Images open as previews: nothing to read for them.
    const text = !/\.(png|jpe?g|gif|webp|bmp|ico)$/i.test(path);
    return { ws, entries, first: { path, content: text ? filesApi.read(id, path).catch(() => null) : Promise.resolve(null) } };
}
