// Sign in and registration.

import { ApiError, auth } from '../api';
import { h } from '../dom';
import { navigate } from '../router';
import { setUser } from '../session';

export function authPage(mode: 'login' | 'register', query: URLSearchParams): void {
    document.title = `${mode === 'login' ? 'Sign in' : 'Create account'} · pyroom`;
    const next = query.get('next');
    const safeNext = next && next.startsWith('/') && !next.startsWith('//') ? next : '/';
    const username = h('input', {
        class: 'input', name: 'username', id: 'username', autocomplete: 'username', required: true,
        autocapitalize: 'none', spellcheck: 'false', minlength: '2', maxlength: '32',
    });
    const password = h('input', {
        class: 'input', name: 'password', id: 'password', type: 'password', required: true,
        autocomplete: mode === 'login' ? 'current-password' : 'new-password', minlength: mode === 'register' ? '8' : null, maxlength: '256',
    });
    const error = h('div', { class: 'form-error', role: 'alert', hidden: true });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, mode === 'login' ? 'Sign in' : 'Create account');

    const form = h(
        'form',
        {
            class: 'auth-form',
            novalidate: true,
            onsubmit: async (e: Event) => {
                e.preventDefault();
                error.hidden = true;
                const u = username.value.trim();
                const p = password.value;
                let problem = '';
                if (!u) problem = 'Enter a username.';
                else if (mode === 'register' && !/^[A-Za-z0-9_.-]{2,32}$/.test(u))
                    problem = 'Usernames are 2–32 letters, digits, dots, dashes or underscores.';
                else if (!p) problem = 'Enter a password.';
                else if (mode === 'register' && p.length < 8) problem = 'Passwords need at least 8 characters.';
                if (problem) {
                    error.textContent = problem;
                    error.hidden = false;
                    return;
                }
                submit.disabled = true;
                submit.textContent = mode === 'login' ? 'Signing in…' : 'Creating account…';
                try {
                    const s = mode === 'login' ? await auth.login(u, p) : await auth.register(u, p);
                    setUser(s.user);
                    navigate(safeNext, true);
                } catch (err) {
                    let msg = err instanceof Error ? err.message : String(err);
                    if (err instanceof ApiError) {
                        if (err.code === 'bad_credentials') msg = 'Wrong username or password.';
                        else if (err.code === 'account_disabled') msg = 'This account is disabled. Ask an administrator to enable it.';
                        else if (err.code === 'exists') msg = 'That username is taken.';
                        else if (err.code === 'registration_closed') msg = 'Registration is closed on this server. Ask an admin for an account.';
                    }
                    error.textContent = msg;
                    error.hidden = false;
                    submit.disabled = false;
                    submit.textContent = mode === 'login' ? 'Sign in' : 'Create account';
                }
            },
        },
        h('label', { class: 'field', for: 'username' }, h('span', null, 'Username'), username),
        h('label', { class: 'field', for: 'password' }, h('span', null, 'Password'), password,
            mode === 'register' ? h('small', { class: 'hint' }, 'At least 8 characters.') : null),
        error,
        submit,
    );
    const other =
        mode === 'login'
            ? h('p', { class: 'auth-switch' }, 'New here? ', h('a', { href: `/register${next ? `?next=${encodeURIComponent(safeNext)}` : ''}` }, 'Create an account'))
            : h('p', { class: 'auth-switch' }, 'Have an account? ', h('a', { href: `/login${next ? `?next=${encodeURIComponent(safeNext)}` : ''}` }, 'Sign in'));

    const app = document.getElementById('app')!;
    app.className = 'app-auth';
    app.replaceChildren(
        h(
            'main',
            { class: 'auth' },
            h(
                'div',
                { class: 'auth-card' },
                h('div', { class: 'auth-brand' }, h('span', { class: 'brand-mark big' }, 'py'), h('span', null, 'pyroom')),
                h('h1', { class: 'auth-title' }, mode === 'login' ? 'Sign in' : 'Create your account'),
                h('p', { class: 'auth-sub' }, mode === 'login' ? 'Your Python workspaces, editor, terminal and runs.' : 'The first account on a new server becomes its admin.'),
                form,
                other,
            ),
        ),
    );
    username.focus();
}
