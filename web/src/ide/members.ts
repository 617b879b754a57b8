// Sharing a workspace: the members dialog. The owner (or an admin) adds people by username as
// viewer (reads, follows) or editor (edits, runs, uses the terminal), changes roles and removes
// them; any member sees who is in and may leave. Every change goes to the server at once; the
// list shown is always the server's answer.

import { ApiError, members as membersApi, messageOf, type Member, type MemberRole, type UserRef, type Workspace } from '../api';
import { confirmDialog, fmtAgo, h, icon, openModal, toast } from '../dom';
import { user as currentUser } from '../session';

const ROLE_HELP: Record<MemberRole, string> = {
    viewer: 'reads files and history, follows runs',
    editor: 'also edits, runs and uses the terminal',
};

function roleSelect(value: MemberRole, label: string, onchange?: (r: MemberRole) => void): HTMLSelectElement {
    const sel = h('select', { class: 'input member-role', 'aria-label': label },
        ...(['viewer', 'editor'] as MemberRole[]).map((r) => h('option', { value: r, title: ROLE_HELP[r] }, r)));
    sel.value = value;
    if (onchange) sel.addEventListener('change', () => onchange(sel.value as MemberRole));
    return sel;
}

/** Opens the members dialog of ws; resolves when it is closed. `left` is called when the
 * signed-in user removed themself (the page should leave the workspace). */
export function membersDialog(ws: Workspace, left?: () => void): Promise<void> {
    const manager = ws.role === 'owner';
    const me = currentUser()?.id;
    const list = h('ul', { class: 'member-list', 'aria-label': 'Members' });
    const problem = h('p', { class: 'form-error', role: 'alert', hidden: true });
    const say = (e: unknown) => {
        problem.textContent = e instanceof ApiError && e.status === 404 && e.code === 'not_found' && /user/.test(e.message) ? 'There is no user with that name.' : messageOf(e);
        problem.hidden = false;
    };
    const row = (u: UserRef, role: string, extra: Node | null, actions: Node[]) =>
        h('li', { class: 'member', dataset: { user: u.username } },
            icon('user'), h('span', { class: 'member-name' }, u.username), extra ?? h('span', { class: 'badge' }, role), ...actions);

    const render = (owner: UserRef, items: Member[]) => {
        list.replaceChildren(row(owner, 'owner', null, []));
        for (const m of items) {
            const self = m.user.id === me;
            const role = manager ? roleSelect(m.role, `Role of ${m.user.username}`, (r) => void act(() => membersApi.set(ws.id, m.user.username, r), `${m.user.username} is now ${r === 'viewer' ? 'a viewer' : 'an editor'}.`)) : null;
            const remove = manager || self
                ? [h('button', { type: 'button', class: 'btn btn-small', 'aria-label': self ? 'Leave this workspace' : `Remove ${m.user.username}`, title: `Added ${fmtAgo(m.added_at)}`, onclick: () => void drop(m, self) }, self ? 'Leave' : 'Remove')]
                : [];
            list.append(row(m.user, m.role, role, remove));
        }
        if (!items.length) list.append(h('li', { class: 'member muted' }, 'Not shared with anyone yet.'));
    };
    const reload = async () => {
        try {
            const r = await membersApi.list(ws.id);
            render(r.owner, r.items);
        } catch (e) {
            say(e);
        }
    };
    const act = async (fn: () => Promise<unknown>, done: string) => {
        problem.hidden = true;
        try {
            await fn();
            toast(done, 'ok');
        } catch (e) {
            say(e);
        }
        await reload();
    };
    const drop = async (m: Member, self: boolean) => {
        const ok = await confirmDialog(self ? 'Leave this workspace?' : `Remove ${m.user.username}?`,
            self ? 'You will no longer see it.' : `${m.user.username} will no longer see this workspace; their open views close at once.`, self ? 'Leave' : 'Remove');
        if (!ok) return;
        await act(() => membersApi.remove(ws.id, m.user.id), self ? 'You left the workspace.' : `${m.user.username} was removed.`);
        if (self) {
            d.close();
            left?.();
        }
    };

    const name = h('input', { class: 'input', type: 'text', name: 'username', placeholder: 'Username', 'aria-label': 'Username to share with', autocomplete: 'off', spellcheck: 'false' });
    const role = roleSelect('viewer', 'Role of the new member');
    const add = h('form', { class: 'member-add', onsubmit: (e: Event) => {
        e.preventDefault();
        const u = name.value.trim();
        if (!u) return;
        void act(() => membersApi.set(ws.id, u, role.value as MemberRole), `Shared with ${u} as ${role.value}.`).then(() => {
            if (problem.hidden) name.value = '';
        });
    } }, name, role, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Share'));

    const d = h('dialog', { class: 'dialog members-dialog', 'aria-label': `Share ${ws.name}` }, h('div', { class: 'dialog-form' },
        h('h2', { class: 'dialog-title' }, `Share “${ws.name}”`),
        h('div', { class: 'dialog-body' },
            manager ? add : h('p', { class: 'muted small' }, 'Only the owner can change who is in.'),
            manager ? h('p', { class: 'muted small' }, 'Viewers read files and history and follow runs; editors also edit, run and use the terminal.') : null,
            problem, list),
        h('div', { class: 'dialog-buttons' }, h('button', { type: 'button', class: 'btn btn-plain', onclick: () => d.close() }, 'Close'))));
    return openModal(d, () => {
        (manager ? name : d.querySelector<HTMLElement>('button'))?.focus();
        void reload();
    });
}

/** The badge a member who may not write sees next to the workspace's name. */
export function readOnlyBadge(ws: Workspace): HTMLElement | null {
    return ws.role === 'viewer' ? h('span', { class: 'badge viewer-badge', title: 'Shared with you as a viewer: you can read and follow, not change' }, 'read only') : null;
}
