// The API client: one `request` that speaks JSON, adds the CSRF token to every request that
// changes state, and turns every failure (HTTP error body, network down, bad JSON) into an
// ApiError with a message a person can read. Types mirror docs/api.md.

import type { ErrorCode } from './codes';

/** An ApiError's code: the server's (the table in src/api/errors.h, via codes.ts), or one
 * of the client's own when there was no error body. */
export type ApiErrorCode = ErrorCode | 'offline' | 'bad_response' | `http_${number}`;

export interface UserRef {
    id: number;
    username: string;
}
export type Role = 'submitter' | 'reviewer' | 'admin';
export interface User extends UserRef {
    role: Role;
    disabled: boolean;
    created_at: string;
}
export interface Workspace {
    id: number;
    name: string;
    owner: UserRef;
    created_at: string;
    updated_at: string;
    file_count: number;
    bytes: number;
    /** The caller's role in it (lists and GET): admins count as owner. */
    role?: WorkspaceRole;
}
export type WorkspaceRole = 'viewer' | 'editor' | 'owner';
export type MemberRole = 'viewer' | 'editor';
export interface Member {
    user: UserRef;
    role: MemberRole;
    added_at: string;
}
/** One stored version of a file (its history). */
export interface Version {
    version: number;
    size: number;
    etag: string;
    author: UserRef | null;
    source: 'save' | 'terminal' | 'run' | 'restore';
    at: string;
}
export interface VersionDiff {
    path: string;
    from: number;
    to: number;
    diff: string | null;
    binary: boolean;
    too_large: boolean;
    added: number;
    removed: number;
}
export interface FileEntry {
    path: string;
    kind: 'file' | 'folder';
    size: number;
    etag: string;
    updated_at: string;
}
export interface Artifact {
    name: string;
    size: number;
    content_type: string;
}
export type RunStatus = 'queued' | 'running' | 'ok' | 'error' | 'limit' | 'cancelled' | 'failed';
export interface Run {
    id: number;
    workspace_id: number;
    entry: string;
    args: string[];
    status: RunStatus;
    exit_code: number | null;
    signal: number | string | null;
    limit_hit: 'none' | 'wall_time' | 'idle' | 'cpu_time' | 'memory' | 'pids' | 'output' | 'disk' | null;
    wall_ms: number | null;
    cpu_ms: number | null;
    peak_memory_bytes: number | null;
    stdout?: string;
    stderr?: string;
    stdout_truncated?: boolean;
    stderr_truncated?: boolean;
    artifacts: Artifact[];
    warm?: boolean;
    reason?: string | null;
    /** What the write-back kept or skipped, one line each (docs/runs.md). */
    notices?: string | null;
    created_at: string;
    finished_at: string | null;
    timings?: RunTimings;
}
/** Where a run's time went, ms per phase (docs/runs.md); null for a phase not reached. */
export interface RunTimings {
    queue_ms: number | null;
    prepare_ms: number | null;
    start_ms: number | null;
    program_ms: number | null;
    exit_ms: number | null;
    collect_ms: number | null;
}
export interface Limits {
    run: {
        wall_ms: number;
        /** Time an interactive run may wait for input, in all (not counted as wall time). */
        idle_ms: number;
        cpu_ms: number;
        memory_bytes: number;
        pids: number;
        output_bytes: number;
        files_bytes: number;
    };
    files: { max_file_bytes: number; max_files: number; max_workspace_bytes: number };
    /** What one zip download may hold. */
    archive: { max_files: number; max_bytes: number };
}
export type SubmissionStatus = 'pending' | 'approved' | 'rejected' | 'withdrawn';
export interface Review {
    id: number;
    decision: 'approve' | 'reject';
    comment: string;
    reviewer: UserRef;
    at: string;
}
export interface Comment {
    id: number;
    author: UserRef;
    body: string;
    path: string | null;
    line: number | null;
    at: string;
}
export interface Submission {
    id: number;
    workspace_id: number;
    workspace_name: string;
    author: UserRef;
    message: string;
    status: SubmissionStatus;
    created_at: string;
    decided_at: string | null;
    decided_by: UserRef | null;
    previous_id: number | null;
    files?: { path: string; size: number; etag: string }[];
    run?: Run | null;
    reviews?: Review[];
    comments?: Comment[];
    /** The file a re-run runs unless told otherwise. */
    entry?: string | null;
    earlier_comments?: EarlierComment[];
}
export interface AuditEntry {
    id: number;
    at: string;
    actor: UserRef | null;
    action: string;
    target: string;
    detail: string | null;
}
export interface List<T> {
    items: T[];
    next_offset: number | null;
}

export class ApiError extends Error {
    /** HTTP status, or 0 when the server could not be reached. */
    status: number;
    /** The stable code from the error body, or 'offline' / 'bad_response' / 'http_NNN'. */
    code: ApiErrorCode;
    /** The parsed error body, when there was one (412 carries the current etag). */
    body: Record<string, unknown> | null;
    constructor(status: number, code: ApiErrorCode, message: string, body: Record<string, unknown> | null = null) {
        super(message);
        this.status = status;
        this.code = code;
        this.body = body;
    }
}

/** A workspace file that is not text (opened as a preview or a download instead). */
export class BinaryFileError extends Error {
    constructor(readonly path: string, readonly size: number) {
        super(`${path} is not a text file.`);
    }
}

let csrfToken = '';
let onUnauthenticated: (() => void) | null = null;

export function setCsrf(token: string): void {
    csrfToken = token;
}
/** Called when a request answers 401 (session expired or revoked). */
export function setUnauthenticatedHandler(fn: () => void): void {
    onUnauthenticated = fn;
}

const FRIENDLY: Record<number, string> = {
    400: 'The request was not accepted.',
    401: 'You are signed out.',
    403: 'You are not allowed to do that.',
    404: 'Not found.',
    409: 'That conflicts with something that already exists.',
    412: 'Someone else changed this first.',
    413: 'That is too large.',
    429: 'Too many requests; try again in a moment.',
    500: 'The server failed. Try again.',
    502: 'The server is not reachable.',
    503: 'The server is busy or starting up.',
    504: 'The server took too long to answer.',
};

export interface RequestOptions {
    json?: unknown;
    body?: BodyInit;
    headers?: Record<string, string>;
    signal?: AbortSignal;
    /** Do not call the 401 handler (login, me). */
    quiet401?: boolean;
    /** Let the request outlive the page (pagehide). */
    keepalive?: boolean;
}

/** Low level: returns the Response when it is 2xx, else throws ApiError. */
export async function raw(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json', ...opts.headers };
    let body = opts.body;
    if (opts.json !== undefined) {
        headers['Content-Type'] = 'application/json';
        body = JSON.stringify(opts.json);
    }
    if (method !== 'GET' && method !== 'HEAD' && csrfToken) headers['X-CSRF-Token'] = csrfToken;
    let res: Response;
    try {
        res = await fetch(path, { method, headers, body, signal: opts.signal, credentials: 'same-origin', keepalive: opts.keepalive });
    } catch (e) {
        if ((e as Error).name === 'AbortError') throw e;
        throw new ApiError(0, 'offline', 'Cannot reach the server. Check your connection.');
    }
    if (res.ok) return res;
    let parsed: Record<string, unknown> | null = null;
    let code: ApiErrorCode = `http_${res.status}`;
    let message = FRIENDLY[res.status] ?? `The server answered ${res.status}.`;
    try {
        const text = await res.text();
        parsed = text ? (JSON.parse(text) as Record<string, unknown>) : null;
        const err = parsed?.error as { code?: string; message?: string } | undefined;
        if (err?.code) code = err.code as ErrorCode;
        if (err?.message) message = err.message;
    } catch {
        /* not JSON: keep the friendly text */
    }
    if (res.status === 429) {
        const after = res.headers.get('Retry-After');
        if (after) message += ` (retry in ${after} s)`;
    }
    if (res.status === 401 && !opts.quiet401 && onUnauthenticated) onUnauthenticated();
    throw new ApiError(res.status, code, message, parsed);
}

export async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await raw(method, path, opts);
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    if (!text) return undefined as T;
    try {
        return JSON.parse(text) as T;
    } catch {
        throw new ApiError(res.status, 'bad_response', 'The server sent an answer that could not be read.');
    }
}

const get = <T>(path: string, opts?: RequestOptions) => request<T>('GET', path, opts);
const post = <T>(path: string, json?: unknown, opts?: RequestOptions) =>
    request<T>('POST', path, { ...opts, json: json ?? {} });

/** Percent-encodes each segment of a workspace path. */
export function encodePath(path: string): string {
    return path.split('/').map(encodeURIComponent).join('/');
}

/** `"abc"` and `W/"abc"` → `abc`. */
export function bareEtag(etag: string | null): string {
    if (!etag) return '';
    return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

export interface Session {
    user: User;
    csrf_token: string;
}

export const auth = {
    async me(): Promise<Session> {
        const s = await get<Session>('/api/auth/me', { quiet401: true });
        setCsrf(s.csrf_token);
        return s;
    },
    async login(username: string, password: string): Promise<Session> {
        const s = await post<Session>('/api/auth/login', { username, password }, { quiet401: true });
        setCsrf(s.csrf_token);
        return s;
    },
    async register(username: string, password: string): Promise<Session> {
        const s = await post<Session>('/api/auth/register', { username, password }, { quiet401: true });
        setCsrf(s.csrf_token);
        return s;
    },
    logout: () => post<void>('/api/auth/logout', undefined, { quiet401: true }),
    /** Changes one's own password; every other session ends, this one is replaced. */
    async changePassword(current: string, next: string): Promise<Session> {
        const s = await post<Session>('/api/auth/password', { current, new: next });
        setCsrf(s.csrf_token);
        return s;
    },
};

export const limits = () => get<Limits>('/api/limits');

export const workspaces = {
    list: (all = false) => get<List<Workspace>>(`/api/workspaces?limit=200${all ? '&all=1' : ''}`),
    get: (id: number) => get<Workspace>(`/api/workspaces/${id}`),
    create: (name: string) => post<Workspace>('/api/workspaces', { name }),
    rename: (id: number, name: string) => request<Workspace>('PATCH', `/api/workspaces/${id}`, { json: { name } }),
    remove: (id: number) => request<void>('DELETE', `/api/workspaces/${id}`),
    /** The workspace's event stream (SSE: file changes from the terminal, other tabs, runs). */
    /** client: the page's id, so the stream is also its presence (docs/api.md). */
    eventsUrl: (id: number, client?: string) => `/api/workspaces/${id}/events${client ? `?client=${client}` : ''}`,
};

/** Language services (docs/api.md): one POST per operation, JSON in and out. */
export const langServices = {
    call: (ws: number, op: string, body: object, signal?: AbortSignal) =>
        raw('POST', `/api/workspaces/${ws}/${op}`, { json: body, signal }),
};

export const members = {
    list: (ws: number) => get<{ owner: UserRef; items: Member[]; max_members: number }>(`/api/workspaces/${ws}/members`),
    /** Adds username, or changes their role. */
    set: (ws: number, username: string, role: MemberRole) => post<Member>(`/api/workspaces/${ws}/members`, { username, role }),
    remove: (ws: number, userId: number) => request<void>('DELETE', `/api/workspaces/${ws}/members/${userId}`),
};

export const history = {
    list: (ws: number, path: string) => get<{ path: string; items: Version[]; next_offset: number | null }>(`/api/workspaces/${ws}/files/${encodePath(path)}?history=1&limit=200`),
    diff: (ws: number, path: string, from: number, to: number) => get<VersionDiff>(`/api/workspaces/${ws}/files/${encodePath(path)}?diff=${from}..${to}`),
    restore: (ws: number, path: string, version: number) => post<Saved>(`/api/workspaces/${ws}/restore`, { path, version }),
};

/** One stored update of a co-edited file's document (base64 Yjs bytes). */
export interface DocUpdate { id: number; snapshot: boolean; update: string }
/** Co-editing (ide/collab.ts): a file's document, the updates posted since its last snapshot. */
export const docs = {
    /** The updates with id > after; 404 `no_doc` when the file has no document. */
    log: (ws: number, path: string, after = 0) =>
        get<{ items: DocUpdate[]; doc: number; bytes: number; editable: boolean }>(`/api/workspaces/${ws}/docs/${encodePath(path)}${after ? `?after=${after}` : ''}`),
    /** Posts an update, or a snapshot (covers 0 starts the document; 409 `doc_exists`).
     *  Anything but a start names its document (doc): 404 `no_doc` once that one is gone. */
    post: (ws: number, path: string, body: { client: string; doc?: number; update: string; snapshot?: boolean; covers?: number }) =>
        post<{ id: number; doc: number }>(`/api/workspaces/${ws}/docs/${encodePath(path)}`, body),
};

/** Presence (ide/presence.ts): where this page is, or that it is going (keepalive). */
export const presence = {
    move: (ws: number, body: { client: string; path: string; line: number; column: number; scroll: number }) =>
        raw('POST', `/api/workspaces/${ws}/presence`, { json: body }),
    leave: (ws: number, client: string) =>
        raw('POST', `/api/workspaces/${ws}/presence`, { json: { client, left: true }, keepalive: true }),
};

export interface Saved {
    path: string;
    kind: 'file';
    size: number;
    etag: string;
    updated_at: string;
}

export const files = {
    list: (ws: number) => get<List<FileEntry>>(`/api/workspaces/${ws}/files`),
    /** The text and its etag (bare). */
    /** The text and its etag. A file that is not UTF-8 text throws BinaryFileError. */
    async read(ws: number, path: string): Promise<{ text: string; etag: string }> {
        const res = await raw('GET', `/api/workspaces/${ws}/files/${encodePath(path)}`, {
            headers: { Accept: '*/*' },
        });
        const bytes = new Uint8Array(await res.arrayBuffer());
        let text: string;
        try {
            // ignoreBOM keeps a byte-order mark in the text, so saving can write it back.
            text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
        } catch {
            throw new BinaryFileError(path, bytes.length);
        }
        // Text editors would mangle binary files on save: refuse them.
        if (text.includes('\0')) throw new BinaryFileError(path, bytes.length);
        return { text, etag: bareEtag(res.headers.get('ETag')) };
    },
    url: (ws: number, path: string) => `/api/workspaces/${ws}/files/${encodePath(path)}`,
    /** A zip of the whole workspace, or of a folder (named from the folder down). */
    archiveUrl: (ws: number, path = '') => `/api/workspaces/${ws}/archive${path ? `/${encodePath(path)}` : ''}`,
    /** PUT; `ifMatch` an etag for a conditional write, '*' (If-None-Match) to create only. */
    /** shared: the id of the document whose text this co-editor's save is (ide/collab.ts);
     *  0: any other write, which makes the server drop that shared text. */
    write(ws: number, path: string, text: string | Blob, ifMatch?: string | null, createOnly = false, shared = 0): Promise<Saved> {
        const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
        if (shared) headers['X-Pyroom-Doc'] = String(shared);
        if (createOnly) headers['If-None-Match'] = '*';
        else if (ifMatch) headers['If-Match'] = `"${ifMatch}"`;
        return request<Saved>('PUT', `/api/workspaces/${ws}/files/${encodePath(path)}`, { body: text, headers });
    },
    remove: (ws: number, path: string) => request<void>('DELETE', `/api/workspaces/${ws}/files/${encodePath(path)}`),
    mkdir: (ws: number, path: string) => post<FileEntry>(`/api/workspaces/${ws}/folders`, { path }),
    move: (ws: number, from: string, to: string) => post<unknown>(`/api/workspaces/${ws}/move`, { from, to }),
    /** Lines of the workspace's text files containing q (ASCII case ignored unless exact). */
    search: (ws: number, q: string, exact = false) =>
        get<{ items: SearchHit[]; truncated: boolean; files_searched: number }>(`/api/workspaces/${ws}/search?${new URLSearchParams(exact ? { q, case: '1' } : { q })}`),
};

export interface SearchHit {
    path: string;
    /** From 1. */
    line: number;
    text: string;
}

export const runs = {
    /** interactive: stdin stays open after `stdin` and is fed with runs.stdin (input() live). */
    start: (ws: number, entry: string, stdin: string, args: string[] = [], interactive = false) =>
        post<Run>(`/api/workspaces/${ws}/runs`, interactive ? { entry, stdin, args, interactive } : { entry, stdin, args }),
    get: (id: number) => get<Run>(`/api/runs/${id}`),
    list: (ws: number) => get<List<Run>>(`/api/workspaces/${ws}/runs?limit=50`),
    cancel: (id: number) => post<Run>(`/api/runs/${id}/cancel`),
    stdin: (id: number, text: string) =>
        request<void>('POST', `/api/runs/${id}/stdin`, {
            body: text,
            headers: { 'Content-Type': 'application/octet-stream' },
        }),
    artifactUrl: (id: number, name: string) => `/api/runs/${id}/artifacts/${encodeURIComponent(name)}`,
    eventsUrl: (id: number) => `/api/runs/${id}/events`,
};

/** A live environment (a workspace with terminals running) of the signed-in user. */
export interface LiveEnv {
    workspace_id: number;
    workspace_name: string | null;
    terminals: string[];
    terminal_count: number;
    clients: number;
    age_ms: number;
    idle_ms: number;
}

export const terminals = {
    list: () => get<{ items: LiveEnv[]; max_per_user: number; max_per_workspace: number }>('/api/terminals'),
    /** Ends one terminal's shell, or (name omitted) the workspace's whole environment. */
    end: (ws: number, name?: string) =>
        request<void>('DELETE', `/api/workspaces/${ws}/terminals${name ? `/${encodeURIComponent(name)}` : ''}`),
    /** The WebSocket of terminal `name` (same origin, ws: or wss: like the page); `watch`
     *  opens it read-only (a viewer mirrors a member's terminal). */
    socketUrl: (ws: number, name: string, watch = false) =>
        `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/api/workspaces/${ws}/terminal?name=${encodeURIComponent(name)}${watch ? '&mode=view' : ''}`,
};

export const submissions = {
    create: (ws: number, message: string) => post<Submission>(`/api/workspaces/${ws}/submissions`, { message }),
    list: (status: SubmissionStatus | '', mine = false) => {
        const q = new URLSearchParams({ limit: '200' });
        if (status) q.set('status', status);
        if (mine) q.set('mine', '1');
        return get<List<Submission>>(`/api/submissions?${q}`);
    },
    get: (id: number) => get<Submission>(`/api/submissions/${id}`),
    fileUrl: (id: number, path: string) => `/api/submissions/${id}/files/${encodePath(path)}`,
    archiveUrl: (id: number) => `/api/submissions/${id}/archive`,
    async file(id: number, path: string): Promise<string> {
        const res = await raw('GET', submissions.fileUrl(id, path), {
            headers: { Accept: '*/*' },
        });
        return res.text();
    },
    withdraw: (id: number) => post<Submission>(`/api/submissions/${id}/withdraw`),
    review: (id: number, decision: 'approve' | 'reject', comment: string) =>
        post<Submission>(`/api/submissions/${id}/review`, { decision, comment }),
    comment: (id: number, body: string, path?: string | null, line?: number | null) =>
        post<Comment>(`/api/submissions/${id}/comments`, path ? { body, path, line } : { body }),
    /** A re-run of the snapshot: any file, stdin, and an optional expected output. */
    run: (id: number, body: ReRun = {}) => post<Run>(`/api/submissions/${id}/runs`, body),
    /** A run of the submission with its check (null without an expected output). */
    runCheck: (id: number, run: number) => get<Run & { check: Check | null }>(`/api/submissions/${id}/runs/${run}`),
    diff: (id: number, against: number) => get<{ files: FileDiff[] }>(`/api/submissions/${id}/diff?against=${against}`),
};

export interface ReRun {
    entry?: string;
    stdin?: string;
    expected_output?: string;
    compare?: 'trim' | 'exact';
}
/** A re-run's expected output and its verdict (docs/api.md, "Re-running a submission"). */
export interface Check {
    expected_output: string;
    compare: 'trim' | 'exact';
    pass: boolean | null;
    reason: string | null;
    difference: { line: number; expected: string | null; actual: string | null } | null;
}
/** A comment or a decision of an earlier submission, carried onto a resubmission. */
export interface EarlierComment {
    id: number;
    submission_id: number;
    at: string;
    /** A comment: */
    author?: UserRef;
    body?: string;
    path?: string | null;
    line?: number | null;
    original_line?: number | null;
    outdated?: boolean;
    /** A decision: */
    decision?: 'approve' | 'reject';
    comment?: string;
    reviewer?: UserRef;
}
export interface Notification {
    id: number;
    kind: 'decision' | 'comment' | 'submission';
    submission_id: number;
    workspace_name: string;
    /** The submission's status now (for a decision: what was decided). */
    status: SubmissionStatus;
    actor: UserRef | null;
    at: string;
    read: boolean;
}
export const notifications = {
    list: (unreadOnly = false) => get<{ unread: number; items: Notification[]; next_offset: number | null }>(`/api/notifications?limit=20${unreadOnly ? '&unread=1' : ''}`),
    read: (submissionId?: number) => post<{ marked: number; unread: number }>('/api/notifications/read', submissionId ? { submission_id: submissionId } : {}),
    /** The caller's own event stream (`UserEvent`s): the bell's push. */
    eventsUrl: () => '/api/events',
};

export interface FileDiff {
    path: string;
    status: 'added' | 'removed' | 'changed' | string;
    /** Unified diff text; null for binary or too large files. */
    diff: string | null;
    binary?: boolean;
    too_large?: boolean;
    added?: number;
    removed?: number;
}

export interface ApiToken {
    id: number;
    name: string;
    created_at: string;
    last_used_at: string | null;
    /** Only in the answer that created it. */
    token?: string;
}

export const tokens = {
    list: () => get<{ items: ApiToken[] }>('/api/auth/tokens'),
    create: (name: string) => post<ApiToken>('/api/auth/tokens', { name }),
    remove: (id: number) => request<void>('DELETE', `/api/auth/tokens/${id}`),
};

export const admin = {
    stats: () => get<Record<string, unknown>>('/api/admin/stats'),
    users: () => get<List<User>>('/api/admin/users?limit=200'),
    /** A new account with a temporary password (shown once) unless one is given. */
    createUser: (username: string, role: Role, password?: string) =>
        post<{ user: User; password: string }>('/api/admin/users', password ? { username, role, password } : { username, role }),
    /** A temporary password for a user (shown once); their sessions end. */
    resetPassword: (id: number) => post<{ user: User; password: string }>(`/api/admin/users/${id}/password`, {}),
    patchUser: (id: number, patch: { role?: Role; disabled?: boolean }) =>
        request<User>('PATCH', `/api/admin/users/${id}`, { json: patch }),
    audit: () => get<List<AuditEntry>>('/api/admin/audit?limit=200'),
    /** This node's last hour, one point a minute (the shape is pages/charts.ts's History). */
    metricsHistory: <T>() => get<T>('/api/admin/metrics/history'),
};

/** A readable message from anything thrown. */
export function messageOf(e: unknown): string {
    if (e instanceof ApiError) return e.message;
    if (e instanceof Error) return e.message;
    return String(e);
}
