// The unread badge of the review loop: a bell in the top bar with the count of the user's
// unread notices (decisions and comments on their submissions; new submissions for
// reviewers), and a short list under it. Opening a submission marks its notices read
// (markRead). The count is fetched when a top bar is drawn (every page change) and whenever
// the user's own event stream (GET /api/events) says a notice came or went; only while that
// stream is down (refused, reconnecting) is it polled, every 30 s while the tab is visible.
// Each bell says whether the push is live (data-live), for the tests.
//
// One stream per browser, not per tab: over plain HTTP/1.1 a browser opens at most six
// connections to a host, and every IDE tab already holds its workspace's stream. The tab
// that holds the Web Lock 'pyroom-bell' opens the stream and passes its events and its state
// on a BroadcastChannel; when that tab goes, the lock passes to another. Without those APIs
// each tab has its own stream.

import { messageOf, notifications as api, type Notification } from '../api';
import type { UserEvent } from '../codes';
import { clear, fmtAgo, h, icon } from '../dom';

/** The poll while the stream is down; a test may set another in localStorage. */
const POLL_MS = Number(localStorage.getItem('pyroom.bellPollMs')) || 30000;
let unread = 0;
let started = false;
let timer: number | null = null;
let es: EventSource | null = null;
let inflight: Promise<void> | null = null;
/** Between the tabs: 'event' (fetch the count), 'live' (the holder's stream is open or
 *  not), 'ask' (a new tab wants the state). */
type TabMsg = { type: 'event' } | { type: 'live'; live: boolean } | { type: 'ask' };
const tabs = typeof BroadcastChannel !== 'undefined' && typeof navigator.locks !== 'undefined' ? new BroadcastChannel('pyroom-bell') : null;

function label(n: Notification): string {
    const who = n.actor?.username ?? 'someone';
    if (n.kind === 'decision') return `${who} ${n.status === 'approved' ? 'approved' : n.status === 'rejected' ? 'rejected' : 'decided on'} #${n.submission_id} ${n.workspace_name}`;
    if (n.kind === 'submission') return `${who} submitted #${n.submission_id} ${n.workspace_name}`;
    return `${who} commented on #${n.submission_id} ${n.workspace_name}`;
}

/** Shows count on every bell on the page. */
function show(count: number): void {
    unread = count;
    document.querySelectorAll<HTMLElement>('.notify-count').forEach((el) => {
        el.textContent = count > 99 ? '99+' : String(count);
        el.hidden = count === 0;
    });
    document.querySelectorAll<HTMLElement>('.notify-bell').forEach((b) => {
        b.setAttribute('aria-label', count ? `Notifications: ${count} unread` : 'Notifications: none unread');
        b.title = count ? `${count} unread` : 'No unread notifications';
    });
}

export function refresh(): Promise<void> {
    if (inflight) return inflight;
    inflight = api.list(true).then((l) => show(l.unread), () => { /* keep the last count */ }).finally(() => { inflight = null; });
    return inflight;
}

/** Marks the notices of a submission read (it was opened) and updates the bells. */
export async function markRead(submissionId: number): Promise<void> {
    try {
        show((await api.read(submissionId)).unread);
    } catch {
        /* the next refresh tells */
    }
}

function poll(on: boolean): void {
    if (on && timer === null) timer = window.setInterval(() => { if (document.visibilityState === 'visible') void refresh(); }, POLL_MS);
    if (!on && timer !== null) {
        window.clearInterval(timer);
        timer = null;
    }
    document.querySelectorAll<HTMLElement>('.notify-bell').forEach((b) => { b.dataset.live = on ? '0' : '1'; });
}

const tell = (m: TabMsg): void => tabs?.postMessage(m);

/** The push: every event of the user's stream means "ask for the count again". */
function listen(): void {
    es = new EventSource(api.eventsUrl());
    const changed = (): void => {
        void refresh();
        tell({ type: 'event' });
    };
    es.addEventListener('notification' satisfies UserEvent, changed);
    es.addEventListener('resync' satisfies UserEvent, changed);
    es.addEventListener('open', () => {
        poll(false);
        changed(); // what came while it was down
        tell({ type: 'live', live: true });
    });
    // Reconnecting (the browser retries by itself) or refused (a 401 after a logout, a 429):
    // poll meanwhile, and try a refused stream again a poll later.
    es.addEventListener('error', () => {
        poll(true);
        tell({ type: 'live', live: false });
        if (es?.readyState === EventSource.CLOSED) {
            es = null;
            window.setTimeout(listen, POLL_MS);
        }
    });
}

function start(): void {
    if (started) return;
    started = true;
    poll(true);
    if (typeof EventSource !== 'undefined' && tabs) {
        tabs.onmessage = (e: MessageEvent<TabMsg>) => {
            if (e.data.type === 'event') void refresh();
            else if (e.data.type === 'live') poll(!e.data.live);
            else if (es) tell({ type: 'live', live: es.readyState === EventSource.OPEN });
        };
        tell({ type: 'ask' });
        // Held until the tab goes: then the next tab in line opens the stream.
        void navigator.locks.request('pyroom-bell', () => new Promise<void>(() => listen()));
    } else if (typeof EventSource !== 'undefined') {
        listen();
    }
    document.addEventListener('visibilitychange', () => { if (document.visibilityState === 'visible') void refresh(); });
    // One listener for every bell: a click elsewhere closes the list.
    document.addEventListener('click', (e) => {
        document.querySelectorAll<HTMLElement>('.notify').forEach((w) => {
            if (!w.contains(e.target as Node)) w.querySelector<HTMLElement>('.notify-menu')!.hidden = true;
        });
    });
}

async function fill(menu: HTMLElement): Promise<void> {
    clear(menu);
    menu.append(h('div', { class: 'notify-head' }, h('strong', null, 'Notifications'),
        h('button', { type: 'button', class: 'link small', id: 'notify-all-read', onclick: async () => { try { show((await api.read()).unread); await fill(menu); } catch { /* shown by the next refresh */ } } }, 'Mark all read')));
    try {
        const l = await api.list();
        show(l.unread);
        if (!l.items.length) menu.append(h('p', { class: 'muted small pad' }, 'Nothing yet. Decisions, comments and new submissions show up here.'));
        for (const n of l.items) {
            menu.append(h('a', { class: `notify-item ${n.read ? '' : 'unread'}`, href: `/submissions/${n.submission_id}`, onclick: () => menu.hidden = true },
                h('span', { class: `notify-kind kind-${n.kind}` }, n.kind),
                h('span', { class: 'notify-text' }, label(n)),
                h('span', { class: 'muted small' }, fmtAgo(n.at))));
        }
    } catch (e) {
        menu.append(h('p', { class: 'form-error pad' }, messageOf(e)));
    }
}

/** The bell for a top bar. */
export function notifyBell(): HTMLElement {
    start();
    const count = h('span', { class: 'notify-count', hidden: unread === 0 }, String(unread));
    const menu = h('div', { class: 'notify-menu', role: 'dialog', 'aria-label': 'Notifications', hidden: true });
    const bell = h('button', { type: 'button', class: 'btn icon-only notify-bell', 'aria-haspopup': 'dialog', 'data-live': timer === null ? '1' : '0', onclick: (e: MouseEvent) => {
        e.stopPropagation();
        menu.hidden = !menu.hidden;
        if (!menu.hidden) void fill(menu);
    } }, icon('bell'), count);
    const wrap = h('div', { class: 'notify' }, bell, menu);
    menu.addEventListener('keydown', (e) => { if (e.key === 'Escape') { menu.hidden = true; bell.focus(); } });
    queueMicrotask(() => { show(unread); void refresh(); });
    return wrap;
}
