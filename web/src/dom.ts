// Small DOM helpers shared by every page: element construction (strings always become text
// nodes, never HTML), icons, toasts, modal dialogs, formatting and remembered settings.

type Child = Node | string | number | null | undefined | false | Child[];
type Attrs = Record<string, unknown>;

function append(el: Element, c: Child): void {
    if (c === null || c === undefined || c === false) return;
    if (Array.isArray(c)) {
        for (const x of c) append(el, x);
    } else if (c instanceof Node) {
        el.appendChild(c);
    } else {
        el.appendChild(document.createTextNode(String(c)));
    }
}

/** h('div', {class: 'x', onclick: fn}, 'text', child) — attributes set safely. */
export function h<K extends keyof HTMLElementTagNameMap>(
    tag: K,
    attrs?: Attrs | null,
    ...children: Child[]
): HTMLElementTagNameMap[K] {
    const el = document.createElement(tag);
    if (attrs) {
        for (const [k, v] of Object.entries(attrs)) {
            if (v === undefined || v === null || v === false) continue;
            if (k.startsWith('on') && typeof v === 'function') {
                el.addEventListener(k.slice(2), v as EventListener);
            } else if (k === 'class') {
                el.className = String(v);
            } else if (k === 'value' || k === 'checked' || k === 'disabled' || k === 'selected') {
                (el as unknown as Record<string, unknown>)[k] = v;
            } else if (k === 'dataset') {
                Object.assign(el.dataset, v);
            } else {
                el.setAttribute(k, v === true ? '' : String(v));
            }
        }
    }
    append(el, children);
    return el;
}

export function clear(el: Element): void {
    while (el.firstChild) el.removeChild(el.firstChild);
}

/** Makes parent's children the elements of items, in order, keeping a child made earlier for
 *  the same key (a signature of everything the element shows; null: always made anew). A list
 *  re-rendered while someone clicks it (a peer's save refreshes the file tree) then keeps the
 *  element under the pointer, so the click, pressed on it and released on it, still lands. */
export function renderKeyed(parent: HTMLElement, items: { key: string | null; make: () => HTMLElement }[]): HTMLElement[] {
    const old = new Map<string, HTMLElement>();
    for (const c of parent.children) if (c instanceof HTMLElement && c.dataset.key !== undefined) old.set(c.dataset.key, c);
    const els = items.map(({ key, make }) => {
        const kept = key === null ? undefined : old.get(key);
        if (kept) {
            old.delete(key!);
            return kept;
        }
        const el = make();
        if (key !== null) el.dataset.key = key;
        return el;
    });
    // Kept elements are never taken out (a browser forgets a press on an element that left
    // the document): stale ones go, new ones are put in between.
    const want = new Set<Node>(els);
    for (const c of [...parent.childNodes]) if (!want.has(c)) c.remove();
    els.forEach((el, i) => {
        if (parent.children[i] !== el) parent.insertBefore(el, parent.children[i] ?? null);
    });
    return els;
}

// Icons: 16px line icons drawn with SVG paths (no icon font, no external files).
const ICONS: Record<string, string> = {
    file: 'M4 1.5h5l3 3v10H4z M9 1.5v3h3',
    py: 'M4 1.5h5l3 3v10H4z M9 1.5v3h3 M6 9h4 M6 11.5h3',
    folder: 'M1.5 3.5h5l1.5 1.5h6.5v8.5h-13z',
    folderOpen: 'M1.5 3.5h5l1.5 1.5h5.5v2 M1.5 13.5l2-6h11l-2 6z M1.5 13.5v-10',
    chevron: 'M6 4l4 4-4 4',
    plus: 'M8 3v10 M3 8h10',
    search: 'M7 2.5a4.5 4.5 0 1 0 0 9a4.5 4.5 0 1 0 0-9z M10.3 10.3l3.7 3.7',
    fileAdd: 'M4 1.5h5l3 3v4 M9 1.5v3h3 M4 1.5v13h5 M12 10.5v4 M10 12.5h4',
    folderAdd: 'M1.5 3.5h5l1.5 1.5h6.5v3 M1.5 3.5v10h7 M12 9.5v5 M9.5 12h5',
    trash: 'M2.5 4h11 M6 4V2.5h4V4 M4 4l.7 10h6.6L12 4',
    pencil: 'M10.5 2.5l3 3L6 13H3v-3z',
    play: 'M4.5 2.5v11l9-5.5z',
    stop: 'M3.5 3.5h9v9h-9z',
    terminal: 'M1.5 2.5h13v11h-13z M4 6l2.5 2L4 10 M8 10.5h4',
    refresh: 'M13 3v3.5H9.5 M12.8 6.3A5 5 0 1 0 13 9',
    x: 'M4 4l8 8 M12 4l-8 8',
    check: 'M3 8.5l3 3 7-7',
    send: 'M2 8h9 M8 4.5L11.5 8 8 11.5 M13.5 3v10',
    history: 'M2.5 8a5.5 5.5 0 1 0 1.6-3.9 M2.5 2.5v2.5H5 M8 5v3.5l2.2 1.5',
    upload: 'M8 11V2.5 M4.5 6L8 2.5 11.5 6 M2.5 10.5v3h11v-3',
    download: 'M8 2.5V11 M4.5 7.5L8 11l3.5-3.5 M2.5 10.5v3h11v-3',
    collapse: 'M4 6l4 4 4-4',
    more: 'M3.5 8h.01 M8 8h.01 M12.5 8h.01',
    logout: 'M6 2.5H2.5v11H6 M10 5l3 3-3 3 M13 8H6',
    image: 'M1.5 2.5h13v11h-13z M1.5 11l4-4 3 3 2-2 4 4 M10.5 5.5h.01',
    comment: 'M2 2.5h12v8.5H7l-3 2.5V11H2z',
    bell: 'M4 11.5V7a4 4 0 0 1 8 0v4.5l1.5 1.5h-11z M6.5 14a1.5 1.5 0 0 0 3 0',
    stdin: 'M2 4.5h12 M2 8h8 M2 11.5h10',
    dot: 'M8 6.5a1.5 1.5 0 1 0 .01 0z',
    user: 'M8 2.5a2.5 2.5 0 1 0 .01 0z M3 14c0-3 2.2-4.5 5-4.5s5 1.5 5 4.5',
    share: 'M6 3a2 2 0 1 0 .01 0z M1.5 13c0-2.5 2-3.5 4.5-3.5s4.5 1 4.5 3.5 M11 3.5a1.8 1.8 0 1 1 0 3.6 M12 9.6c1.6.4 2.5 1.4 2.5 3.4',
};

export function icon(name: keyof typeof ICONS | string, cls = ''): SVGSVGElement {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 16 16');
    svg.setAttribute('width', '16');
    svg.setAttribute('height', '16');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('class', `icon ${cls}`.trim());
    const p = document.createElementNS(ns, 'path');
    p.setAttribute('d', ICONS[name] ?? ICONS.file);
    svg.appendChild(p);
    return svg;
}

/** The icon for a file name: Python, image or plain. */
export function fileIcon(name: string): SVGSVGElement {
    if (/\.pyw?$|\.pyi$/.test(name)) return icon('py', 'ic-py');
    if (/\.(png|jpe?g|gif|webp|bmp|ico|svg)$/i.test(name)) return icon('image', 'ic-img');
    return icon('file', 'ic-file');
}

// Toasts: transient messages, errors stay until dismissed.
let toastHost: HTMLElement | null = null;
export function toast(message: string, kind: 'info' | 'error' | 'ok' = 'info', ms = 4000): void {
    if (!toastHost) {
        toastHost = h('div', { class: 'toasts', role: 'status', 'aria-live': 'polite' });
        document.body.appendChild(toastHost);
    }
    const close = () => t.remove();
    const t = h(
        'div',
        { class: `toast toast-${kind}` },
        h('span', null, message),
        h('button', { type: 'button', class: 'toast-x', 'aria-label': 'Dismiss', onclick: close }, icon('x')),
    );
    toastHost.appendChild(t);
    if (kind !== 'error' || ms > 0) setTimeout(close, kind === 'error' ? Math.max(ms, 8000) : ms);
}

/** A modal dialog with a body and buttons; resolves with the chosen value (null = cancelled). */
export function dialog<T>(opts: {
    title: string;
    body?: Child;
    buttons: { label: string; value: T; kind?: 'primary' | 'danger' | 'plain' }[];
    wide?: boolean;
    onOpen?: (d: HTMLDialogElement) => void;
    /** Called before closing with a value; return false to keep the dialog open. */
    validate?: (value: T) => boolean | Promise<boolean>;
}): Promise<T | null> {
    return new Promise((resolve) => {
        let done = false;
        const finish = async (v: T | null) => {
            if (done) return;
            if (v !== null && opts.validate && !(await opts.validate(v))) return;
            done = true;
            d.close();
            d.remove();
            resolve(v);
        };
        const buttons = opts.buttons.map((b) =>
            h('button', { type: 'button', class: `btn btn-${b.kind ?? 'plain'}`, onclick: () => finish(b.value) }, b.label),
        );
        const d = h(
            'dialog',
            { class: `dialog ${opts.wide ? 'dialog-wide' : ''}`, 'aria-label': opts.title },
            h('form', { method: 'dialog', class: 'dialog-form', onsubmit: (e: Event) => {
                e.preventDefault();
                const primary = opts.buttons.find((b) => b.kind === 'primary' || b.kind === 'danger');
                if (primary) finish(primary.value);
            } },
                h('h2', { class: 'dialog-title' }, opts.title),
                h('div', { class: 'dialog-body' }, opts.body ?? null),
                h('div', { class: 'dialog-buttons' }, buttons),
            ),
        );
        d.addEventListener('cancel', (e) => {
            e.preventDefault();
            finish(null);
        });
        document.body.appendChild(d);
        d.showModal();
        opts.onOpen?.(d);
        // A destructive default (Delete) is never where the focus starts: Enter must not be
        // a reflex away from losing data.
        const safe = opts.buttons[opts.buttons.length - 1]?.kind === 'danger' ? buttons[0] : buttons[buttons.length - 1];
        const first = d.querySelector<HTMLElement>('input, textarea, select') ?? safe;
        first?.focus();
    });
}

/** Shows d as a modal until it closes, then removes it; onOpen runs once it is shown. */
export function openModal(d: HTMLDialogElement, onOpen?: () => void): Promise<void> {
    return new Promise((resolve) => {
        d.addEventListener('close', () => {
            d.remove();
            resolve();
        });
        document.body.append(d);
        d.showModal();
        onOpen?.();
    });
}

export interface MenuItem {
    label: Child;
    hint?: string;
    /** Shown as the current choice. */
    current?: boolean;
    dataset?: Record<string, string>;
    onSelect: () => void;
}

let openMenu: (() => void) | null = null;

/** A small menu under anchor (keyboard: arrows, Enter, Escape); closes on any outside click. */
export function popupMenu(anchor: HTMLElement, items: MenuItem[], label: string): void {
    openMenu?.();
    const buttons = items.map((it) =>
        h('button', { type: 'button', role: 'menuitem', class: `pmenu-item ${it.current ? 'current' : ''}`, dataset: it.dataset, onclick: () => {
            close();
            it.onSelect();
        } }, h('span', { class: 'pmenu-label' }, it.label), it.hint ? h('span', { class: 'pmenu-hint' }, it.hint) : null));
    const menu = h('div', { class: 'pmenu', role: 'menu', 'aria-label': label }, buttons);
    const close = () => {
        menu.remove();
        document.removeEventListener('pointerdown', outside, true);
        anchor.setAttribute('aria-expanded', 'false');
        if (openMenu === close) openMenu = null;
    };
    const outside = (e: Event) => {
        if (!menu.contains(e.target as Node) && !anchor.contains(e.target as Node)) close();
    };
    menu.addEventListener('keydown', (e) => {
        const i = buttons.indexOf(document.activeElement as HTMLButtonElement);
        if (e.key === 'Escape') {
            close();
            anchor.focus();
        } else if (e.key === 'ArrowDown') buttons[(i + 1) % buttons.length]?.focus();
        else if (e.key === 'ArrowUp') buttons[(i - 1 + buttons.length) % buttons.length]?.focus();
        else return;
        e.preventDefault();
    });
    document.body.append(menu);
    const r = anchor.getBoundingClientRect();
    const w = menu.offsetWidth;
    menu.style.top = `${Math.min(r.bottom + 4, innerHeight - menu.offsetHeight - 8)}px`;
    menu.style.left = `${Math.max(8, Math.min(r.right - w, innerWidth - w - 8))}px`;
    anchor.setAttribute('aria-expanded', 'true');
    document.addEventListener('pointerdown', outside, true);
    openMenu = close;
    (buttons.find((b) => b.classList.contains('current')) ?? buttons[0])?.focus();
}

export async function confirmDialog(title: string, message: Child, action: string, danger = true): Promise<boolean> {
    const v = await dialog<boolean>({
        title,
        body: h('p', null, message),
        buttons: [
            { label: 'Cancel', value: false },
            { label: action, value: true, kind: danger ? 'danger' : 'primary' },
        ],
    });
    return v === true;
}

export async function promptDialog(title: string, label: string, initial = '', action = 'OK'): Promise<string | null> {
    const input = h('input', { type: 'text', class: 'input', value: initial, 'aria-label': label, spellcheck: 'false' });
    const v = await dialog<boolean>({
        title,
        body: h('label', { class: 'field' }, h('span', null, label), input),
        buttons: [
            { label: 'Cancel', value: false },
            { label: action, value: true, kind: 'primary' },
        ],
        onOpen: () => {
            // A path: select the last name without its extension, as file managers do.
            const from = initial.lastIndexOf('/') + 1;
            const dot = initial.lastIndexOf('.');
            if (initial.includes('/') || dot > from) input.setSelectionRange(from, dot > from ? dot : initial.length);
            else input.select();
        },
    });
    return v ? input.value.trim() : null;
}

// Formatting.
/** Saves url as a file (same origin: the browser's download, with the cookie). name '' lets
 *  the server's Content-Disposition name it. */
export function saveUrl(url: string, name = ''): void {
    const a = h('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
}

export function fmtBytes(n: number | null | undefined): string {
    if (n === null || n === undefined) return '–';
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(n < 10240 ? 1 : 0)} KB`;
    if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(n < 10 * 1024 * 1024 ? 1 : 0)} MB`;
    return `${(n / 1024 ** 3).toFixed(1)} GB`;
}

export function fmtMs(ms: number | null | undefined): string {
    if (ms === null || ms === undefined) return '–';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 60000) return `${(ms / 1000).toFixed(ms < 10000 ? 2 : 1)} s`;
    return `${Math.floor(ms / 60000)} min ${Math.round((ms % 60000) / 1000)} s`;
}

export function fmtAgo(iso: string | null | undefined): string {
    if (!iso) return '–';
    const t = Date.parse(iso);
    if (Number.isNaN(t)) return iso;
    const s = Math.round((Date.now() - t) / 1000);
    if (s < 45) return 'just now';
    if (s < 3600) return `${Math.round(s / 60)} min ago`;
    if (s < 86400) return `${Math.round(s / 3600)} h ago`;
    if (s < 86400 * 14) return `${Math.round(s / 86400)} d ago`;
    return new Date(t).toLocaleDateString();
}

export function fmtTime(iso: string | null | undefined): string {
    if (!iso) return '';
    const t = Date.parse(iso);
    return Number.isNaN(t) ? iso : new Date(t).toLocaleString();
}

// Remembered settings (pane sizes, open panels): localStorage, failures ignored.
export const prefs = {
    get<T>(key: string, fallback: T): T {
        try {
            const v = localStorage.getItem(`pyroom:${key}`);
            return v === null ? fallback : (JSON.parse(v) as T);
        } catch {
            return fallback;
        }
    },
    set(key: string, value: unknown): void {
        try {
            localStorage.setItem(`pyroom:${key}`, JSON.stringify(value));
        } catch {
            /* storage full or disabled: the setting is just not remembered */
        }
    },
    remove(key: string): void {
        try {
            localStorage.removeItem(`pyroom:${key}`);
        } catch {
            /* ignore */
        }
    },
};

/** The platform's modifier key name for shortcuts shown in titles. */
export const MOD = /Mac|iPhone|iPad/.test(navigator.platform) ? '⌘' : 'Ctrl';

export function statusBadge(status: string): HTMLElement {
    return h('span', { class: `badge badge-${status}` }, status);
}
