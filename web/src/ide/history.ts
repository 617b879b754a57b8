// A file's history: the dialog that lists every stored version of the open file (who, how,
// when), shows what each version changed against the one before it (a unified diff from the
// server) and restores one. A restore is itself a new version, so nothing is ever lost by
// restoring; the editor picks the restored text up through the workspace's change events.

import { history as historyApi, messageOf, raw, type Version, files as filesApi } from '../api';
import { diffBody } from '../diffview';
import { fmtAgo, fmtBytes, fmtTime, h, icon, openModal, toast } from '../dom';

const SOURCE: Record<Version['source'], string> = {
    save: 'saved',
    terminal: 'terminal',
    run: 'run',
    restore: 'restored',
};

/** Opens the history of path in workspace ws. canRestore: the caller may write (editor or
 * owner). Resolves when the dialog is closed. */
export function historyDialog(ws: number, path: string, canRestore: boolean): Promise<void> {
    const list = h('ol', { class: 'version-list', 'aria-label': 'Versions' });
    const view = h('div', { class: 'version-view' });
    const head = h('div', { class: 'version-head' });
    const restore = h('button', { type: 'button', class: 'btn btn-primary', id: 'restore-version', disabled: true }, icon('history'), h('span', null, 'Restore this version'));
    let items: Version[] = [];
    let chosen = 0;

    const show = async (i: number) => {
        chosen = i;
        for (const [j, li] of [...list.children].entries()) {
            li.classList.toggle('selected', j === i);
            li.querySelector('button')?.setAttribute('aria-current', String(j === i));
        }
        const v = items[i];
        const older = items[i + 1];
        restore.disabled = !canRestore || i === 0;
        restore.title = !canRestore ? 'Viewers cannot restore' : i === 0 ? 'This is the current version' : `Make version ${v.version} the file again`;
        head.replaceChildren(h('strong', null, `Version ${v.version}`), h('span', { class: 'muted small' },
            older ? ` compared with version ${older.version}` : ' (the oldest version kept)'));
        view.replaceChildren(h('p', { class: 'muted pad' }, 'Loading…'));
        try {
            if (older) {
                view.replaceChildren(diffBody(await historyApi.diff(ws, path, older.version, v.version)));
            } else {
                const res = await raw('GET', `${filesApi.url(ws, path)}?version=${v.version}`, { headers: { Accept: '*/*' } });
                const text = await res.text();
                view.replaceChildren(diffBody({ diff: text.replace(/\n$/, '').split('\n').map((l) => `+${l}`).join('\n') }));
            }
        } catch (e) {
            view.replaceChildren(h('p', { class: 'form-error' }, messageOf(e)));
        }
    };
    const load = async (select = 0) => {
        try {
            items = (await historyApi.list(ws, path)).items;
        } catch (e) {
            list.replaceChildren(h('li', { class: 'form-error' }, messageOf(e)));
            return;
        }
        list.replaceChildren(...items.map((v, i) => h('li', { class: 'version', dataset: { version: String(v.version) } },
            h('button', { type: 'button', class: 'version-row', onclick: () => void show(i) },
                h('span', { class: 'version-n' }, `v${v.version}`),
                h('span', { class: `badge version-src src-${v.source}` }, SOURCE[v.source]),
                h('span', { class: 'version-who' }, v.author?.username ?? (v.source === 'terminal' ? 'terminal' : '—')),
                h('span', { class: 'muted small', title: fmtTime(v.at) }, fmtAgo(v.at)),
                h('span', { class: 'muted small' }, fmtBytes(v.size))))));
        if (!items.length) {
            list.append(h('li', { class: 'muted pad' }, 'No stored version of this file.'));
            view.replaceChildren();
            return;
        }
        await show(Math.min(select, items.length - 1));
    };
    restore.addEventListener('click', async () => {
        const v = items[chosen];
        if (!v) return;
        restore.disabled = true;
        try {
            await historyApi.restore(ws, path, v.version);
            toast(`Restored version ${v.version} of ${path}.`, 'ok');
            await load(0);
        } catch (e) {
            toast(messageOf(e), 'error');
            restore.disabled = false;
        }
    });

    const d = h('dialog', { class: 'dialog dialog-wide history-dialog', 'aria-label': `History of ${path}` }, h('div', { class: 'dialog-form' },
        h('h2', { class: 'dialog-title' }, 'History of ', h('code', null, path)),
        h('div', { class: 'history-panes' }, list, h('div', { class: 'version-pane' }, head, view)),
        h('div', { class: 'dialog-buttons' }, restore, h('button', { type: 'button', class: 'btn btn-plain', onclick: () => d.close() }, 'Close'))));
    return openModal(d, () => void load());
}
