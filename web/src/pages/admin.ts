// The admin page: users (role, disabled), the audit log, this node's figures and charts.

import { admin, messageOf, type Role, type User } from '../api';
import { clear, fmtAgo, fmtBytes, fmtTime, h, toast, confirmDialog } from '../dom';
import { errorBlock, loading, page, user } from '../session';

export async function adminPage(query: URLSearchParams): Promise<void> {
    const asked = query.get('tab');
    const tab = asked === 'audit' || asked === 'node' || asked === 'charts' ? asked : 'users';
    const host = h('div', null, loading());
    page('admin', 'Admin',
        h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Admin'), h('p', { class: 'muted' }, 'Accounts, roles and what happened on this server.'))),
        h('div', { class: 'seg', role: 'tablist' },
            h('a', { href: '/admin', role: 'tab', class: `seg-item ${tab === 'users' ? 'active' : ''}`, 'aria-selected': String(tab === 'users') }, 'Users'),
            h('a', { href: '/admin?tab=audit', role: 'tab', class: `seg-item ${tab === 'audit' ? 'active' : ''}`, 'aria-selected': String(tab === 'audit') }, 'Audit log'),
            h('a', { href: '/admin?tab=node', role: 'tab', class: `seg-item ${tab === 'node' ? 'active' : ''}`, 'aria-selected': String(tab === 'node') }, 'This node'),
            h('a', { href: '/admin?tab=charts', role: 'tab', class: `seg-item ${tab === 'charts' ? 'active' : ''}`, 'aria-selected': String(tab === 'charts') }, 'Charts')),
        host);
    if (tab === 'audit') await audit(host);
    else if (tab === 'node') await node(host);
    else if (tab === 'charts') await import('./charts').then((m) => m.chartsTab(host));
    else await users(host);
}

/** The node's figures (runs, terminals, warm pool) as labelled cards; refreshes itself. */
async function node(host: HTMLElement): Promise<void> {
    const NAMES: Record<string, string> = { pss_bytes: 'memory (PSS)', template_pss_bytes: 'template memory (PSS)', cgroup_bytes: 'cgroup memory', boot_ms: 'start-up', warm: 'warm Python pool' };
    const label = (k: string) => NAMES[k] ?? k.replace(/_bytes$/, '').replace(/_ms$/, '').replace(/_/g, ' ');
    const value = (k: string, v: unknown): string => {
        if (typeof v === 'boolean') return v ? 'yes' : 'no';
        if (typeof v === 'number' && k.endsWith('_bytes')) return fmtBytes(v);
        if (typeof v === 'number' && k.endsWith('_ms')) return `${v} ms`;
        if (v === null || v === undefined || v === '') return '–';
        return String(v);
    };
    const draw = (stats: Record<string, unknown>) => {
        const flat: [string, unknown][] = [];
        const groups: [string, Record<string, unknown>][] = [];
        for (const [k, v] of Object.entries(stats)) {
            if (v && typeof v === 'object' && !Array.isArray(v)) groups.push([k, v as Record<string, unknown>]);
            else flat.push([k, v]);
        }
        const card = (title: string, rows: [string, unknown][]) =>
            h('section', { class: 'stat-card' }, h('h2', null, title),
                h('dl', { class: 'stat-list' }, rows.map(([k, v]) => [h('dt', null, label(k)), h('dd', null, value(k, v))])));
        host.replaceChildren(h('div', { class: 'stat-grid' }, flat.length ? card('Server', flat) : null, groups.map(([k, v]) => card(label(k), Object.entries(v)))),
            h('p', { class: 'muted small' }, `Updated ${new Date().toLocaleTimeString()} · refreshes every 5 s`));
    };
    try {
        draw(await admin.stats());
    } catch (e) {
        host.replaceChildren(errorBlock(messageOf(e), () => void node(host)));
        return;
    }
    const timer = window.setInterval(async () => {
        if (!host.isConnected) return clearInterval(timer);
        try {
            draw(await admin.stats());
        } catch {
            /* keep the last figures */
        }
    }, 5000);
}

async function users(host: HTMLElement): Promise<void> {
    let list: User[];
    try {
        list = (await admin.users()).items;
    } catch (e) {
        host.replaceChildren(errorBlock(messageOf(e), () => void users(host)));
        return;
    }
    const me = user();
    const row = (u: User): HTMLElement => {
        const role = h('select', { class: 'input input-small', 'aria-label': `Role of ${u.username}`, disabled: u.id === me?.id },
            (['submitter', 'reviewer', 'admin'] as Role[]).map((r) => h('option', { value: r, selected: r === u.role }, r)));
        role.addEventListener('change', async () => {
            try {
                const nu = await admin.patchUser(u.id, { role: role.value as Role });
                toast(`${nu.username} is now ${nu.role}.`, 'ok');
                Object.assign(u, nu);
            } catch (e) {
                role.value = u.role;
                toast(messageOf(e), 'error');
            }
        });
        const disable = h('button', { type: 'button', class: `btn btn-small ${u.disabled ? '' : 'btn-danger-quiet'}`, disabled: u.id === me?.id },
            u.disabled ? 'Enable' : 'Disable');
        disable.addEventListener('click', async () => {
            if (!u.disabled && !(await confirmDialog(`Disable ${u.username}?`, 'They are signed out everywhere and cannot sign in until enabled again.', 'Disable'))) return;
            try {
                const nu = await admin.patchUser(u.id, { disabled: !u.disabled });
                Object.assign(u, nu);
                tr.replaceWith(row(u));
            } catch (e) {
                toast(messageOf(e), 'error');
            }
        });
        const tr = h('tr', { class: u.disabled ? 'row-disabled' : '' },
            h('td', null, h('strong', null, u.username), u.id === me?.id ? h('span', { class: 'muted' }, ' (you)') : null),
            h('td', null, role),
            h('td', null, u.disabled ? h('span', { class: 'badge badge-rejected' }, 'disabled') : h('span', { class: 'badge badge-approved' }, 'active')),
            h('td', { title: u.created_at }, fmtAgo(u.created_at)),
            h('td', { class: 'row-actions' }, disable));
        return tr;
    };
    clear(host);
    host.append(h('table', { class: 'table' },
        h('thead', null, h('tr', null, h('th', null, 'User'), h('th', null, 'Role'), h('th', null, 'State'), h('th', null, 'Joined'), h('th', null, h('span', { class: 'sr-only' }, 'Actions')))),
        h('tbody', null, list.map(row))));
}

async function audit(host: HTMLElement): Promise<void> {
    try {
        const list = (await admin.audit()).items;
        clear(host);
        if (!list.length) {
            host.append(h('p', { class: 'muted' }, 'Nothing recorded yet.'));
            return;
        }
        host.append(h('table', { class: 'table audit' },
            h('thead', null, h('tr', null, h('th', null, 'When'), h('th', null, 'Who'), h('th', null, 'Action'), h('th', null, 'Target'), h('th', null, 'Detail'))),
            h('tbody', null, list.map((a) => h('tr', null,
                h('td', { title: fmtTime(a.at) }, fmtAgo(a.at)),
                h('td', null, a.actor?.username ?? '–'),
                h('td', null, h('code', null, a.action)),
                h('td', null, a.target ?? ''),
                h('td', { class: 'muted' }, a.detail ?? ''))))));
    } catch (e) {
        host.replaceChildren(errorBlock(messageOf(e), () => void audit(host)));
    }
}
