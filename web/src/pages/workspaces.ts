// The workspace list: open, create, rename, delete (with confirmation).

import { workspaces as wsApi, messageOf, type Workspace } from '../api';
import { clear, confirmDialog, fmtAgo, fmtBytes, h, icon, promptDialog, toast } from '../dom';
import { navigate } from '../router';
import { errorBlock, isAdmin, loading, page } from '../session';

export async function workspacesPage(query: URLSearchParams): Promise<void> {
    const all = query.get('all') === '1' && isAdmin();
    const name = h('input', {
        class: 'input', id: 'new-workspace-name', placeholder: 'New workspace name', 'aria-label': 'New workspace name', maxlength: '100',
    });
    const create = h('form', {
        class: 'inline-form',
        onsubmit: async (e: Event) => {
            e.preventDefault();
            const n = name.value.trim();
            if (!n) {
                name.focus();
                return;
            }
            try {
                const w = await wsApi.create(n);
                navigate(`/w/${w.id}`);
            } catch (err) {
                toast(messageOf(err), 'error');
            }
        },
    }, name, h('button', { type: 'submit', class: 'btn btn-primary' }, icon('plus'), h('span', null, 'Create')));

    const listHost = h('div', { class: 'ws-list-host' }, loading());
    page(
        'workspaces',
        'Workspaces',
        h('div', { class: 'page-head' },
            h('div', null, h('h1', null, all ? 'All workspaces' : 'Workspaces'),
                h('p', { class: 'muted' }, all ? 'Every user\u2019s workspaces (admin view).' : 'Each workspace is a folder of files with its own editor, terminal and runs.')),
            create),
        isAdmin() ? h('p', { class: 'muted small' }, all ? h('a', { href: '/' }, 'Show only mine') : h('a', { href: '/?all=1' }, 'Show everyone\u2019s workspaces')) : null,
        listHost,
    );

    async function load(): Promise<void> {
        try {
            const list = await wsApi.list(all);
            render(list.items);
        } catch (err) {
            clear(listHost);
            listHost.appendChild(errorBlock(messageOf(err), load));
        }
    }

    function render(items: Workspace[]): void {
        clear(listHost);
        if (!items.length) {
            listHost.appendChild(
                h('div', { class: 'empty' }, icon('folder', 'empty-icon'),
                    h('p', null, 'No workspaces yet.'),
                    h('p', { class: 'muted' }, 'Name one above to start: it comes with a main.py to run.')),
            );
            return;
        }
        const rows = items.map((w) =>
            h('tr', { dataset: { id: String(w.id) } },
                h('td', { class: 'ws-name' }, h('a', { href: `/w/${w.id}` }, icon('folder'), h('span', null, w.name)),
                    !all && w.role && w.role !== 'owner' ? h('span', { class: 'badge ws-shared', title: `Shared with you by ${w.owner.username}` }, `${w.owner.username} · ${w.role}`) : null),
                all ? h('td', null, w.owner?.username ?? '') : null,
                h('td', { class: 'num' }, String(w.file_count ?? '–')),
                h('td', { class: 'num' }, fmtBytes(w.bytes)),
                h('td', { title: w.updated_at }, fmtAgo(w.updated_at)),
                h('td', { class: 'row-actions' }, w.role && w.role !== 'owner' ? null : [
                    h('button', { type: 'button', class: 'btn btn-small', onclick: () => rename(w) }, 'Rename'),
                    h('button', { type: 'button', class: 'btn btn-small btn-danger-quiet', onclick: () => remove(w) }, 'Delete')])),
        );
        listHost.appendChild(
            h('table', { class: 'table ws-table' },
                h('thead', null, h('tr', null, h('th', null, 'Name'), all ? h('th', null, 'Owner') : null, h('th', { class: 'num' }, 'Files'),
                    h('th', { class: 'num' }, 'Size'), h('th', null, 'Updated'), h('th', null, h('span', { class: 'sr-only' }, 'Actions')))),
                h('tbody', null, rows)),
        );
    }

    async function rename(w: Workspace): Promise<void> {
        const n = await promptDialog('Rename workspace', 'Name', w.name, 'Rename');
        if (!n || n === w.name) return;
        try {
            await wsApi.rename(w.id, n);
            toast('Renamed.', 'ok');
            await load();
        } catch (err) {
            toast(messageOf(err), 'error');
        }
    }

    async function remove(w: Workspace): Promise<void> {
        const n = w.file_count;
        const what = n === undefined || n === null ? ' and all its files' : n === 0 ? '' : n === 1 ? ' and its one file' : ` and its ${n} files`;
        const ok = await confirmDialog('Delete workspace?', ['"', w.name, `"${what} will be deleted for good.`], 'Delete workspace');
        if (!ok) return;
        try {
            await wsApi.remove(w.id);
            toast('Workspace deleted.', 'ok');
            await load();
        } catch (err) {
            toast(messageOf(err), 'error');
        }
    }

    await load();
    if (!all) name.focus();
}
