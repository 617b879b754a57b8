// The IDE's top bar: the breadcrumb (workspace name, click to rename; the owner's name when
// an administrator or a member is in someone else's workspace) and the actions: Run, Terminal, Submit.
// Other modules add their own buttons with `addAction`.

import { messageOf, submissions as subApi, workspaces as wsApi, type Workspace } from '../api';
import { dialog, h, icon, prefs, promptDialog, toast } from '../dom';
import { navigate } from '../router';
import { topbar, user as currentUser } from '../session';
import type { FileStore } from './files';
import { readOnlyBadge } from './members';

export interface HeaderHooks {
    toggleTerminal(): void;
}

export class IdeHeader {
    readonly el: HTMLElement;
    private actions: HTMLElement;
    private submitBtn: HTMLElement | null;
    private name: HTMLButtonElement;
    private termBtn: HTMLButtonElement;

    constructor(public ws: Workspace, private store: FileStore, run: HTMLButtonElement, hooks: HeaderHooks) {
        // An admin in someone else's workspace sees whose it is, and is not offered Submit
        // (a submission is the owner's).
        const foreign = !!ws.owner && ws.owner.id !== currentUser()?.id;
        this.name = h('button', { type: 'button', class: 'crumb-name', title: 'Rename workspace', onclick: () => void this.rename() }, ws.name);
        const crumb = h('div', { class: 'crumb' },
            h('a', { href: '/', class: 'crumb-link' }, 'Workspaces'), h('span', { class: 'crumb-sep' }, '/'),
            foreign ? h('span', { class: 'owner-badge', title: `This workspace belongs to ${ws.owner.username}; ${ws.role === 'owner' ? 'you see it as an administrator' : `it is shared with you (${ws.role ?? 'viewer'})`}` }, `${ws.owner.username}’s`) : null,
            this.name, readOnlyBadge(ws));
        this.termBtn = h('button', { type: 'button', class: 'btn', id: 'toggle-terminal', title: 'Terminal (Ctrl+`)', 'aria-pressed': String(prefs.get('term:open', false)), onclick: () => hooks.toggleTerminal() }, icon('terminal'), h('span', null, 'Terminal'));
        this.submitBtn = foreign ? null : h('button', { type: 'button', class: 'btn', id: 'submit-review', onclick: () => void this.submit() }, icon('upload'), h('span', null, 'Submit'));
        this.actions = h('div', { class: 'top-actions' }, run, this.termBtn, this.submitBtn);
        this.el = topbar('ide', crumb, this.actions);
        document.title = `${ws.name} · pyroom`;
    }

    /** Adds a button (or any element) to the top bar's actions, before Submit. */
    addAction(el: HTMLElement): void {
        this.actions.insertBefore(el, this.submitBtn);
    }

    /** The Terminal button shows whether the panel is open. */
    terminalShown(open: boolean): void {
        this.termBtn.setAttribute('aria-pressed', String(open));
    }

    private async rename(): Promise<void> {
        const n = await promptDialog('Rename workspace', 'Name', this.ws.name, 'Rename');
        if (!n || n === this.ws.name) return;
        try {
            this.ws = await wsApi.rename(this.ws.id, n);
            document.title = `${this.ws.name} · pyroom`;
            this.name.textContent = this.ws.name;
        } catch (e) {
            toast(messageOf(e), 'error');
        }
    }

    private async submit(): Promise<void> {
        await this.store.saveAll();
        const unsaved = [...this.store.open.values()].filter((f) => this.store.isDirty(f));
        const msg = h('textarea', { class: 'input', rows: '4', id: 'submit-message', placeholder: 'What should the reviewer look at?', 'aria-label': 'Message to the reviewer' });
        const v = await dialog<boolean>({
            title: 'Submit for review',
            body: [
                h('p', null, `A snapshot of the workspace "${this.ws.name}" as saved now is sent to the reviewers. You can keep editing; later changes are not part of this submission.`),
                unsaved.length ? h('p', { class: 'banner banner-warn' }, `Not saved yet, so not included: ${unsaved.map((f) => f.path).join(', ')}`) : null,
                h('label', { class: 'field' }, h('span', null, 'Message'), msg),
            ],
            buttons: [
                { label: 'Cancel', value: false },
                { label: 'Submit', value: true, kind: 'primary' },
            ],
        });
        if (!v) return;
        try {
            const s = await subApi.create(this.ws.id, msg.value.trim());
            toast(`Submitted for review (#${s.id}).`, 'ok');
            navigate(`/submissions/${s.id}`);
        } catch (e) {
            toast(`Could not submit: ${messageOf(e)}`, 'error');
        }
    }
}
