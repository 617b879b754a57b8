// The IDE's columns: file tree | editor (+ terminal below) | run panel, with draggable
// dividers whose sizes are remembered. Below ~700 px there is room for one pane: a switcher
// at the bottom picks it (CSS shows them all on a wide screen).

import { h, icon } from '../dom';
import { splitter } from './split';

export type Pane = 'files' | 'code' | 'output' | 'terminal';

export interface LayoutParts {
    sidebar: HTMLElement;
    editor: HTMLElement;
    terminal: HTMLElement;
    run: HTMLElement;
}

export interface LayoutHooks {
    /** A divider moved: terminals refit their rows and columns. */
    resized(): void;
    /** The narrow layout switched to pane. */
    shown(pane: Pane): void;
}

export class IdeLayout {
    readonly root: HTMLElement;
    /** The narrow layout's pane switcher. */
    readonly nav: HTMLElement;
    /** The file tree's column (other modules may add below the tree). */
    readonly sidebar: HTMLElement;

    constructor(parts: LayoutParts, private hooks: LayoutHooks) {
        this.root = h('div', { class: 'ide' });
        const sideSplit = splitter({ root: this.root, prop: '--sidebar-w', axis: 'x', dir: 1, min: 140, max: () => innerWidth * 0.4, initial: 220, key: 'size:sidebar', label: 'Resize file tree' });
        const runSplit = splitter({ root: this.root, prop: '--run-w', axis: 'x', dir: -1, min: 240, max: () => innerWidth * 0.6, initial: Math.round(Math.max(300, innerWidth * 0.3)), key: 'size:run', label: 'Resize output panel', onResize: () => hooks.resized() });
        const termSplit = splitter({ root: this.root, prop: '--term-h', axis: 'y', dir: -1, min: 90, max: () => innerHeight - 200, initial: 240, key: 'size:term', label: 'Resize terminal', onResize: () => hooks.resized() });
        parts.terminal.prepend(termSplit);
        this.sidebar = h('aside', { class: 'sidebar', 'aria-label': 'Files' }, parts.sidebar);
        this.root.append(this.sidebar, sideSplit, h('div', { class: 'center-col' }, parts.editor, parts.terminal), runSplit, parts.run);
        const viewBtn = (v: Pane, label: string, ic: string) =>
            h('button', { type: 'button', class: 'view-btn', role: 'tab', dataset: { view: v }, 'aria-selected': String(v === 'code'), onclick: () => this.show(v) }, icon(ic), h('span', null, label));
        this.nav = h('nav', { class: 'ide-views', role: 'tablist', 'aria-label': 'Show' },
            viewBtn('files', 'Files', 'folder'), viewBtn('code', 'Code', 'py'), viewBtn('output', 'Output', 'play'), viewBtn('terminal', 'Terminal', 'terminal'));
        this.root.dataset.view = 'code';
    }

    /** Whether one pane is shown at a time. */
    narrow(): boolean {
        return matchMedia('(max-width: 700px)').matches;
    }

    /** Shows pane on a narrow screen (on a wide one all are shown; the choice is kept). */
    show(pane: Pane): void {
        this.root.dataset.view = pane;
        for (const b of this.nav.querySelectorAll<HTMLElement>('.view-btn')) b.setAttribute('aria-selected', String(b.dataset.view === pane));
        this.hooks.shown(pane);
    }

    /** On a narrow screen, shows pane; on a wide one, nothing changes. */
    showIfNarrow(pane: Pane): void {
        if (this.narrow()) this.show(pane);
    }

    terminalShown(open: boolean): void {
        this.root.classList.toggle('term-open', open);
    }
}
