// The account page: who you are, your password, and API tokens for scripts (shown once,
// revocable).

import { ApiError, auth, messageOf, tokens, type ApiToken } from '../api';
import { clear, confirmDialog, fmtAgo, h, icon, toast } from '../dom';
import { errorBlock, loading, page, user } from '../session';

export async function accountPage(): Promise<void> {
    const u = user()!;
    const list = h('div', null, loading());
    const fresh = h('div');
    const name = h('input', { class: 'input', id: 'token-name', placeholder: 'Token name, e.g. laptop script', 'aria-label': 'Token name', maxlength: '100' });
    page('account', 'Account',
        h('div', { class: 'page-head' }, h('div', null, h('h1', null, u.username), h('p', { class: 'muted' }, `Role: ${u.role} · joined ${fmtAgo(u.created_at)}`))),
        passwordCard(),
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

/** Change password: the current one, the new one twice. Other browsers are signed out. */
function passwordCard(): HTMLElement {
    const field = (id: string, label: string, auto: string) => {
        const input = h('input', { class: 'input', id, type: 'password', autocomplete: auto, required: true });
        return { input, el: h('label', { class: 'field', for: id }, h('span', null, label), input) };
    };
    const cur = field('pw-current', 'Current password', 'current-password');
    const next = field('pw-new', 'New password', 'new-password');
    const again = field('pw-again', 'New password again', 'new-password');
    const msg = h('div', { role: 'status', 'aria-live': 'polite' });
    const btn = h('button', { type: 'submit', class: 'btn btn-primary' }, 'Change password');
    const form = h('form', { class: 'pw-form', onsubmit: async (e: Event) => {
        e.preventDefault();
        clear(msg);
        const fail = (text: string, focus: HTMLInputElement) => {
            msg.append(h('div', { class: 'form-error' }, text));
            focus.focus();
        };
        if ([...next.input.value].length < 8) return fail('The new password needs at least 8 characters.', next.input);
        if (next.input.value !== again.input.value) return fail('The two new passwords differ.', again.input);
        btn.disabled = true;
        try {
            await auth.changePassword(cur.input.value, next.input.value);
            form.reset();
            msg.append(h('div', { class: 'banner banner-ok' }, icon('check'), h('span', null, 'Password changed. Other browsers and devices were signed out; API tokens keep working.')));
        } catch (err) {
            fail(err instanceof ApiError && err.code === 'wrong_password' ? 'The current password is not right.' : messageOf(err), cur.input);
        } finally {
            btn.disabled = false;
        }
    } }, cur.el, next.el, again.el, msg, h('div', { class: 'form-row end' }, btn));
    return h('section', { class: 'card pad-card', id: 'password' }, h('h2', null, 'Password'), form);
}
