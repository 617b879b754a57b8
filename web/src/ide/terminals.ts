// The IDE's terminal panel: tabs of named terminals (remembered per workspace), each a
// TermSession loaded on first use, the connection state, and the live environments (the
// user's workspaces with terminals running), each with End: shown in a dialog, and in place
// of the terminal when the server refuses one because a limit is reached.

import { ApiError, messageOf, terminals as termApi, type LiveEnv } from '../api';
import { clear, dialog, fmtMs, h, icon, prefs, toast } from '../dom';
import { linkTerminal } from '../lang';
import type { TermSession } from './terminal';

export interface TermHooks {
    /** The panel was shown or hidden (the layout and the top bar button follow). */
    toggled(open: boolean): void;
    /** Focus goes back to the editor (the panel was hidden). */
    focusEditor(): void;
    /** A traceback's file:line was clicked in a terminal. */
    openAt(path: string, line: number): void;
}

export class TermPanel {
    readonly el: HTMLElement;
    open: boolean;
    private tabs: HTMLElement;
    private body: HTMLElement;
    private stateEl: HTMLElement;
    private terms = new Map<string, TermSession>();
    private active = '';
    /** The live environments the server listed when a terminal was refused. */
    private liveEnvs: LiveEnv[] = [];
    private disposed = false;

    /** watch: a viewer's terminals mirror the members' read-only (`?mode=view`). */
    constructor(private ws: number, private hooks: TermHooks, private watch = false) {
        this.tabs = h('div', { class: 'term-tabs', role: 'tablist', 'aria-label': 'Terminals' });
        this.stateEl = h('span', { class: 'term-state' });
        this.body = h('div', { class: 'term-body' });
        this.el = h('section', { class: 'term-panel', 'aria-label': 'Terminal' },
            h('div', { class: 'pane-head' },
                h('span', { class: 'pane-title' }, icon('terminal'), 'Terminal'),
                this.tabs,
                h('button', { type: 'button', class: 'btn icon-only', title: 'New terminal', 'aria-label': 'New terminal', onclick: () => void this.newTerm() }, icon('plus')),
                this.stateEl,
                h('div', { class: 'pane-tools' },
                    h('button', { type: 'button', class: 'btn icon-only', id: 'live-envs', title: 'Live environments (your workspaces with terminals running)', 'aria-label': 'Live environments', onclick: () => void this.envDialog() }, icon('stdin')),
                    h('button', { type: 'button', class: 'btn icon-only', title: `Hide terminal (Ctrl+\`)`, 'aria-label': 'Hide terminal', onclick: () => this.toggle(false) }, icon('x')))),
            this.body);
        this.open = prefs.get('term:open', false);
        this.el.hidden = !this.open;
    }

    /** Shows the remembered state (called once the panel is in the page). */
    start(): void {
        this.hooks.toggled(this.open);
        if (this.open) void this.show();
    }

    dispose(): void {
        this.disposed = true;
        for (const t of this.terms.values()) t.dispose();
    }

    /** Whether some terminal is connected (files may change under the page). */
    anyOpen(): boolean {
        return [...this.terms.values()].some((t) => t.state === 'open');
    }

    toggle(open = !this.open): void {
        this.open = open;
        prefs.set('term:open', open);
        this.el.hidden = !open;
        this.hooks.toggled(open);
        if (open) void this.show();
        else this.hooks.focusEditor();
    }

    refit(): void {
        this.terms.get(this.active)?.refit();
    }

    private names(): string[] {
        return prefs.get<string[]>(`terms:${this.ws}`, ['1']);
    }

    private async show(name?: string): Promise<void> {
        const names = this.names();
        name = name ?? (this.active || names[0] || '1');
        if (!names.includes(name)) {
            names.push(name);
            prefs.set(`terms:${this.ws}`, names);
        }
        this.active = name;
        let mod: typeof import('./terminal');
        try {
            mod = await import('./terminal');
        } catch (e) {
            this.stateEl.textContent = `Could not load the terminal: ${messageOf(e)}`;
            return;
        }
        if (this.disposed) return;
        let t = this.terms.get(name);
        if (!t) {
            const host = h('div', { class: 'term-host', dataset: { name } });
            this.body.append(host);
            t = new mod.TermSession(host, this.ws, name, (s) => {
                if (s.name === this.active) this.showState();
                this.renderTabs();
            }, () => this.refusal(name!), this.watch);
            linkTerminal(t.term, (p, l) => this.hooks.openAt(p, l));
            this.terms.set(name, t);
        }
        for (const [n, s] of this.terms) s.host.hidden = n !== name;
        this.renderTabs();
        this.showState();
        requestAnimationFrame(() => {
            t!.refit();
            t!.focus();
        });
    }

    private async newTerm(): Promise<void> {
        const names = this.names();
        let n = 1;
        while (names.includes(String(n))) n++;
        await this.show(String(n));
    }

    /** Why the server refuses terminal `name` of this workspace, if it is a limit. */
    private async refusal(name: string): Promise<string | null> {
        const l = await termApi.list();
        this.liveEnvs = l.items;
        const mine = l.items.find((e) => e.workspace_id === this.ws);
        if (!mine && l.max_per_user && l.items.length >= l.max_per_user)
            return `You have ${l.items.length} live environment${l.items.length === 1 ? '' : 's'}, the most allowed. End one to open a terminal here.`;
        if (mine && l.max_per_workspace && mine.terminal_count >= l.max_per_workspace && !mine.terminals.includes(name))
            return `This workspace has ${mine.terminal_count} terminals running, the most allowed. Close one to open another.`;
        return null;
    }

    /** The live environments, each with an End button. */
    private envList(envs: LiveEnv[], after: () => void): HTMLElement {
        if (!envs.length) return h('p', { class: 'muted' }, 'No terminals are running.');
        return h('ul', { class: 'env-list' }, envs.map((e) => {
            const here = e.workspace_id === this.ws;
            const end = h('button', { type: 'button', class: 'btn btn-small', 'aria-label': `End the environment of ${e.workspace_name ?? e.workspace_id}`, onclick: async () => {
                end.disabled = true;
                try {
                    await termApi.end(e.workspace_id);
                    if (here) for (const n of [...this.terms.keys()]) this.drop(n);
                } catch (err) {
                    if (!(err instanceof ApiError && err.status === 404)) toast(messageOf(err), 'error');
                }
                after();
            } }, 'End');
            return h('li', { class: 'env-row', dataset: { ws: String(e.workspace_id) } },
                h('span', { class: 'env-name' }, here ? h('strong', null, e.workspace_name ?? `#${e.workspace_id}`) : h('a', { href: `/w/${e.workspace_id}` }, e.workspace_name ?? `#${e.workspace_id}`),
                    here ? h('span', { class: 'muted' }, ' (this one)') : null),
                h('span', { class: 'env-terms muted' }, `${e.terminal_count} terminal${e.terminal_count === 1 ? '' : 's'} · ${e.clients ? 'in use' : `idle ${fmtMs(e.idle_ms)}`}`),
                end);
        }));
    }

    private async envDialog(): Promise<void> {
        let envs: LiveEnv[];
        let max = 0;
        try {
            const l = await termApi.list();
            envs = l.items;
            max = l.max_per_user;
        } catch (e) {
            toast(messageOf(e), 'error');
            return;
        }
        const holder = h('div', null);
        const refresh = async () => {
            try {
                holder.replaceChildren(this.envList((await termApi.list()).items, () => void refresh()));
            } catch (e) {
                holder.replaceChildren(h('p', { class: 'form-error' }, messageOf(e)));
            }
        };
        holder.append(this.envList(envs, () => void refresh()));
        await dialog<boolean>({
            title: 'Live environments',
            body: [h('p', null, `Each workspace with terminals running is a live environment; you may have ${max || 'any number of'} at once. One ends by itself after a while without use. Ending one stops its shells and programs; the files stay.`), holder],
            buttons: [{ label: 'Close', value: false, kind: 'primary' }],
        });
        const t = this.terms.get(this.active);
        if (t?.state === 'refused') t.restart();
    }

    /** Removes a terminal tab from the page (its shell is not touched). */
    private drop(name: string): void {
        const t = this.terms.get(name);
        t?.dispose();
        t?.host.remove();
        this.terms.delete(name);
        const names = this.names().filter((n) => n !== name);
        prefs.set(`terms:${this.ws}`, names.length ? names : ['1']);
        if (this.active === name) {
            this.active = '';
            if (names.length) void this.show(names[0]);
            else this.toggle(false);
        } else this.renderTabs();
    }

    /** The tab's ×: a running shell is ended on request, or kept running in the background. */
    private async close(name: string): Promise<void> {
        const t = this.terms.get(name);
        if (t && t.state === 'open') {
            const v = await dialog<'end' | 'keep'>({
                title: `Close terminal bash ${name}?`,
                body: h('p', null, 'Ending the shell stops what runs in it and frees its place. Kept running, it ends by itself when unused for a while; reopening this terminal finds it again.'),
                buttons: [
                    { label: 'Cancel', value: null as unknown as 'end' },
                    { label: 'Keep running', value: 'keep' },
                    { label: 'End shell', value: 'end', kind: 'danger' },
                ],
            });
            if (!v) return;
            if (v === 'end') {
                try {
                    await termApi.end(this.ws, name);
                } catch (e) {
                    if (!(e instanceof ApiError && e.status === 404)) {
                        toast(messageOf(e), 'error');
                        return;
                    }
                }
            }
        }
        this.drop(name);
    }

    private renderTabs(): void {
        clear(this.tabs);
        for (const n of this.names()) {
            const t = this.terms.get(n);
            this.tabs.append(h('div', { class: `ttab ${n === this.active ? 'active' : ''} ttab-${t?.state ?? 'idle'}`, role: 'tab', 'aria-selected': String(n === this.active), tabindex: '0', onclick: () => void this.show(n) },
                h('span', { class: 'ttab-dot', 'aria-hidden': 'true' }), h('span', null, `bash ${n}`),
                h('button', { type: 'button', class: 'tab-close', 'aria-label': `Close terminal ${n}`, onclick: (e: MouseEvent) => { e.stopPropagation(); void this.close(n); } }, icon('x', 'tab-x'))));
        }
    }

    private showState(): void {
        const t = this.terms.get(this.active);
        clear(this.stateEl);
        for (const el of this.body.querySelectorAll('.term-refused')) el.remove();
        if (!t) return;
        if (t.state === 'refused') {
            this.stateEl.className = 'term-state term-refused-state';
            this.stateEl.dataset.state = t.state;
            this.stateEl.append(icon('x'), 'Terminal limit reached');
            this.body.append(h('div', { class: 'term-refused', role: 'alert' },
                h('p', { class: 'term-refused-msg' }, t.detail),
                this.envList(this.liveEnvs, () => t.restart()),
                h('p', null, h('button', { type: 'button', class: 'link', onclick: () => t.restart() }, 'Try again'))));
            return;
        }
        this.stateEl.className = `term-state term-${t.state}`;
        this.stateEl.dataset.state = t.state;
        if (t.state === 'open') {
            this.stateEl.append(h('span', { class: 'ttab-dot' }), 'Connected');
        } else {
            this.stateEl.append(t.state === 'exited' ? '' : h('span', { class: 'spinner small' }), t.detail || t.state);
            if (t.state === 'exited' || t.state === 'reconnecting' || t.state === 'error')
                this.stateEl.append(h('button', { type: 'button', class: 'link', onclick: () => t.restart() }, t.state === 'exited' ? 'Restart' : 'Retry now'));
        }
    }
}
