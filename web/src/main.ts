// The page's entry: finds out who is signed in, then routes.
//
//   /login, /register          sign in, create an account
//   /                          workspaces (admins: ?all=1)
//   /w/:id                     the IDE
//   /submissions, /submissions/:id   my submissions, one submission (review view)
//   /review                    reviewer dashboard (?status=pending|approved|rejected)
//   /admin                     users, audit log, node figures (?tab=audit|node)
//   /account                   your account and API tokens
//   /api/docs                  the API reference (rendered from /api/openapi.json)

import './style.css';
import './pages/ops.css'; // the API reference and the admin charts (lazy pages; CSS is not)
import { auth, setUnauthenticatedHandler } from './api';
import { h } from './dom';
import { prefetchIde } from './ide/prefetch';
import { accountPage } from './pages/account';
import { adminPage } from './pages/admin';
import { authPage } from './pages/auth';
import { workspacesPage } from './pages/workspaces';
import { navigate, route, setNotFound, startRouter } from './router';
import { errorBlock, isAdmin, isReviewer, page, setUser, toLogin, user } from './session';

/** Wraps a page that needs a signed-in user (and optionally a role). */
function authed<A extends unknown[]>(fn: (...a: A) => void | Promise<void>, need?: 'reviewer' | 'admin') {
    return (...a: A) => {
        if (!user()) return toLogin();
        if ((need === 'reviewer' && !isReviewer()) || (need === 'admin' && !isAdmin())) {
            page('workspaces', 'Not allowed', errorBlock('This page is for ' + (need === 'admin' ? 'admins' : 'reviewers') + ' only.'), h('p', null, h('a', { href: '/' }, '← Workspaces')));
            return;
        }
        return fn(...a);
    };
}

route('/login', (_p, q) => (user() ? navigate('/', true) : authPage('login', q)));
route('/register', (_p, q) => (user() ? navigate('/', true) : authPage('register', q)));
route('/', authed((_p, q) => workspacesPage(q)));
// The IDE and the review pages carry CodeMirror: a chunk of its own, preloaded by
// index.html, so the small entry can start asking the API while the editor downloads.
const ide = () => import('./ide/ide');
/** Started at boot for /w/:id, in parallel with asking who is signed in. */
let early: { id: number; pre: ReturnType<typeof prefetchIde>; mod: ReturnType<typeof ide> } | null = null;
const review = () => import('./pages/review');
route('/w/:id', authed((p) => {
    const id = Number(p.id);
    const e = early?.id === id ? early : null;
    early = null;
    const pre = e?.pre ?? prefetchIde(id);
    return (e?.mod ?? ide()).then((m) => m.idePage(id, pre));
}));
route('/submissions', authed(() => review().then((m) => m.mySubmissionsPage())));
route('/submissions/:id', authed((p) => review().then((m) => m.submissionPage(Number(p.id)))));
route('/review', authed((_p, q) => review().then((m) => m.dashboardPage(q)), 'reviewer'));
route('/review/:id', authed((p) => navigate(`/submissions/${p.id}`, true), 'reviewer'));
route('/admin', authed((_p, q) => adminPage(q), 'admin'));
route('/account', authed(() => accountPage()));
route('/api/docs', () => import('./pages/apidocs').then((m) => m.apiDocsPage()));
setNotFound(() => {
    if (!user()) return toLogin();
    page('workspaces', 'Not found', h('div', { class: 'empty' }, h('p', null, 'There is no page here.'), h('p', null, h('a', { href: '/' }, 'Go to your workspaces'))));
});

// A request that answers 401 means the session ended: sign in again and come back.
// Unsaved editor text is in local drafts, so nothing is lost.
setUnauthenticatedHandler(() => {
    if (!user()) return;
    setUser(null);
    toLogin();
});

async function boot(): Promise<void> {
    const w = /^\/w\/(\d+)\/?$/.exec(location.pathname);
    if (w) {
        // Most visits to /w/ID are by a signed-in owner: ask for the workspace and load the
        // editor while /api/auth/me is in flight. (If not signed in, these just fail quietly.)
        const mod = ide();
        mod.catch(() => {});
        early = { id: Number(w[1]), pre: prefetchIde(Number(w[1])), mod };
    }
    try {
        const s = await auth.me();
        setUser(s.user);
    } catch (e) {
        const status = (e as { status?: number }).status;
        if (status !== 401) {
            // The server is down or broken: say so instead of showing a login form that cannot work.
            const app = document.getElementById('app')!;
            app.className = 'app-page';
            app.replaceChildren(h('main', { class: 'page' }, errorBlock(`${(e as Error).message}`, () => location.reload())));
            if (status === 0 || (status ?? 0) >= 500) return;
        }
    }
    startRouter();
}

void boot();
