// Who is signed in, and the top bar every page shares (navigation by role, the user menu).

import { auth, type User } from './api';
import { h, icon } from './dom';
import { navigate } from './router';
import { notifyBell } from './pages/review_notify';

let current: User | null = null;

export function user(): User | null {
    return current;
}
export function setUser(u: User | null): void {
    current = u;
}
export function isReviewer(): boolean {
    return current?.role === 'reviewer' || current?.role === 'admin';
}
export function isAdmin(): boolean {
    return current?.role === 'admin';
}

/** Sends the visitor to the login page, coming back here afterwards. */
export function toLogin(): void {
    const here = location.pathname + location.search;
    const next = here === '/' || here.startsWith('/login') || here.startsWith('/register') ? '' : `?next=${encodeURIComponent(here)}`;
    navigate(`/login${next}`, true);
}

export async function signOut(): Promise<void> {
    try {
        await auth.logout();
    } catch {
        /* signed out locally either way */
    }
    current = null;
    navigate('/login');
}

export type NavKey = 'workspaces' | 'submissions' | 'review' | 'admin' | 'ide' | 'account';

/** The top bar: brand, navigation, an optional middle part (the IDE's), the user menu. */
export function topbar(active: NavKey, middle?: Node | null, right?: Node | null): HTMLElement {
    const link = (key: NavKey, href: string, label: string) =>
        h('a', { href, class: `nav-link ${active === key ? 'active' : ''}`, 'aria-current': active === key ? 'page' : null }, label);
    const u = current;
    return h(
        'header',
        { class: 'topbar' },
        h('a', { href: '/', class: 'brand', 'aria-label': 'pyroom home' }, h('span', { class: 'brand-mark' }, 'py'), h('span', { class: 'brand-name' }, 'pyroom')),
        h(
            'nav',
            { class: 'nav', 'aria-label': 'Main' },
            link('workspaces', '/', 'Workspaces'),
            link('submissions', '/submissions', 'My submissions'),
            isReviewer() ? link('review', '/review', 'Review') : null,
            isAdmin() ? link('admin', '/admin', 'Admin') : null,
        ),
        h('div', { class: 'topbar-middle' }, middle ?? null),
        right ?? null,
        u
            ? h(
                  'div',
                  { class: 'usermenu' },
                  notifyBell(),
                  h('a', { class: 'user-name', href: '/account', title: `Signed in as ${u.username} (${u.role}): account and API tokens` }, u.username, u.role !== 'submitter' ? h('span', { class: 'user-role' }, u.role) : null),
                  h('button', { type: 'button', class: 'btn icon-only', title: 'Sign out', 'aria-label': 'Sign out', onclick: () => void signOut() }, icon('logout')),
              )
            : null,
    );
}

/** Renders a normal (non-IDE) page: top bar and a centred main column. */
export function page(active: NavKey, title: string, ...content: (Node | null)[]): HTMLElement {
    document.title = `${title} · pyroom`;
    const main = h('main', { class: 'page', id: 'main' }, ...content);
    const app = document.getElementById('app')!;
    app.className = 'app-page';
    app.replaceChildren(topbar(active), main);
    return main;
}

/** A loading placeholder and a readable error block for pages. */
export function loading(text = 'Loading…'): HTMLElement {
    return h('div', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text);
}
export function errorBlock(message: string, retry?: () => void): HTMLElement {
    return h(
        'div',
        { class: 'error-block', role: 'alert' },
        h('strong', null, 'Something went wrong. '),
        h('span', null, message),
        retry ? h('button', { type: 'button', class: 'btn', onclick: retry }, 'Try again') : null,
    );
}
