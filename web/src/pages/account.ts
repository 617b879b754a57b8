// The account page: who you are, and API tokens for scripts (shown once, revocable).

import { messageOf, tokens, type ApiToken } from '../api';
import { clear, confirmDialog, fmtAgo, h, icon, toast } from '../dom';
import { errorBlock, loading, page, user } from '../session';

export async function accountPage(): Promise<void> {
    const u = user()!;
    const list = h('div', null, loading());
    const fresh = h('div');
    const name = h('input', { class: 'input', id: 'token-name', placeholder: 'Token name, e.g. laptop script', 'aria-label': 'Token name', maxlength: '100' });
    page('account', 'Account',
        h('div', { class: 'page-head' }, h('div', null, h('h1', null, u.username), h('p', { class: 'muted' }, `Role: ${u.role} · joined ${fmtAgo(u.created_at)}`))),
        h('section', { class: 'card pad-card' },
            h('h2', null, 'API tokens'),
            h('p', { class: 'muted' }, 'Scripts can use the same API as this page with ', h('code', null, 'Authorization: Bearer TOKEN'), '. A token is shown once, when it is made.'),
            h('form', { class: 'inline-form', onsubmit: async (e: Event) => {
                e.preventDefault();
                const n = name.value.trim();
                if (!n) return name.focus();
                try {
                    const t = await tokens.create(n);
                    name.value = '';
                    clear(fresh);
                    const value = h('input', { class: 'input token-value', readonly: true, value: t.token ?? '', 'aria-label': 'New token' });
                    fresh.append(h('div', { class: 'banner banner-ok' }, icon('check'), h('div', { class: 'grow' },
                        h('strong', null, `Token "${t.name}" made. Copy it now: it is not shown again.`), value)));
                    value.select();
                    await load();
                } catch (err) {
                    toast(messageOf(err), 'error');
                }
            } }, name, h('button', { type: 'submit', class: 'btn btn-primary' }, 'Make token')),
            fresh,
            list));

    async function load(): Promise<void> {
        let items: ApiToken[];
        try {
            items = (await tokens.list()).items;
        } catch (e) {
            list.replaceChildren(errorBlock(messageOf(e), () => void load()));
            return;
        }
        if (!items.length) {
            list.replaceChildren(h('p', { class: 'muted small' }, 'No tokens.'));
            return;
        }
        list.replaceChildren(h('table', { class: 'table' },
            h('thead', null, h('tr', null, h('th', null, 'Name'), h('th', null, 'Made'), h('th', null, 'Last used'), h('th', null, h('span', { class: 'sr-only' }, 'Actions')))),
            h('tbody', null, items.map((t) => h('tr', null,
                h('td', null, t.name), h('td', null, fmtAgo(t.created_at)), h('td', null, t.last_used_at ? fmtAgo(t.last_used_at) : 'never'),
                h('td', { class: 'row-actions' }, h('button', { type: 'button', class: 'btn btn-small btn-danger-quiet', onclick: async () => {
                    if (!(await confirmDialog('Revoke token?', `Scripts using "${t.name}" will stop working.`, 'Revoke'))) return;
                    try {
                        await tokens.remove(t.id);
                        await load();
                    } catch (e) {
                        toast(messageOf(e), 'error');
                    }
                } }, 'Revoke')))))));
    }
    await load();
}
