// Presence and follow (issue 17): who else has this workspace open, in which file and where,
// and "follow": my editor shows the file, cursor and scroll of the person I follow.
//
// The page has its own client id, sent with the event stream (?client=): the server says
// `presence_joined` when it opens and `presence_left` when it ends. Where I am goes out as
// POST /presence whenever the file, cursor or scroll changes (one request in flight; the
// latest position follows it), and again when someone joins, so a newcomer learns where
// everybody is without a table on the server. A page going away says so (pagehide).
// The others' cursors on the file shown are drawn in the editor (a caret and a name tag, in
// a colour of their user, in a layer over the text, not in it): `extension` is part of every
// file's state, and the carets move with the text between two positions heard.

import { EditorSelection, RangeSet, RangeValue, StateEffect, StateField, type EditorState, type Extension } from '@codemirror/state';
import { type EditorView, layer, type LayerMarker, RectangleMarker } from '@codemirror/view';
import { ySyncAnnotation } from 'y-codemirror.next';
import { presence as presenceApi } from '../api';
import { h } from '../dom';
import type { WorkspaceEvents } from './events';

export interface PresenceHooks {
    view(): EditorView | null;
    active(): string;
    /** Opens path in the editor (and makes it active). */
    open(path: string): Promise<void>;
    /** Another page is on path too (co-editing starts only then, if path is open here). */
    together?(path: string): void;
}

interface Spot { path: string; line: number; column: number; scroll: number }
interface Peer extends Spot { client: string; user: { id: number; username: string | null } }

/** A page is its user and its client id: the server vouches for the user, the page picks the
 *  id, so another member reusing my id cannot pass as me (or make me leave). */
const keyOf = (p: Peer): string => `${p.user.id}/${p.client}`;

/** Another page's cursor, as drawn in my editor. */
interface Caret { key: string; name: string; hue: number; line: number; column: number }

/** Where a caret is in my text: a point that moves with my edits (and goes when they delete
 *  across it), like a widget at the end of what is before it. */
class CaretPoint extends RangeValue {
    constructor(readonly c: Caret) {
        super();
    }
    eq(o: CaretPoint): boolean {
        return o.c === this.c;
    }
}
CaretPoint.prototype.startSide = CaretPoint.prototype.endSide = 1;
CaretPoint.prototype.point = true;

const setCarets = StateEffect.define<Caret[]>();

function caretPoints(state: EditorState, carets: Caret[]): RangeSet<CaretPoint> {
    const doc = state.doc;
    const ranges = carets.map((c) => {
        const line = doc.line(Math.min(Math.max(c.line, 1), doc.lines));
        return new CaretPoint(c).range(Math.min(line.from + c.column, line.to));
    });
    return RangeSet.of(ranges, true);
}

// A peer's line and column are where they are in their text. My own edits move their caret
// along (mapped); a remote change is theirs arriving, after which their line and column are
// right again in my text (mapping would put the caret after text they typed at it).
const caretField = StateField.define<{ carets: Caret[]; at: RangeSet<CaretPoint> }>({
    create: () => ({ carets: [], at: RangeSet.empty }),
    update(v, tr) {
        for (const e of tr.effects) if (e.is(setCarets)) return { carets: e.value, at: caretPoints(tr.state, e.value) };
        if (!tr.docChanged) return v;
        if (tr.annotation(ySyncAnnotation)) return { carets: v.carets, at: caretPoints(tr.state, v.carets) };
        return { carets: v.carets, at: v.at.map(tr.changes) };
    },
});

/** A caret as drawn: a bar and the name (CSS ::after from data-name), at left/top in the
 *  layer's coordinates. */
class CaretMarker implements LayerMarker {
    constructor(readonly c: Caret, readonly left: number, readonly top: number, readonly height: number) {}
    eq(o: LayerMarker): boolean {
        return o instanceof CaretMarker && o.c.key === this.c.key && o.c.name === this.c.name && o.c.hue === this.c.hue
            && (o.c.line <= 1) === (this.c.line <= 1) && o.left === this.left && o.top === this.top && o.height === this.height;
    }
    draw(): HTMLElement {
        const el = h('div', { 'aria-hidden': 'true', dataset: { key: this.c.key, name: this.c.name } });
        this.place(el);
        return el;
    }
    update(dom: HTMLElement, prev: LayerMarker): boolean {
        if (!(prev instanceof CaretMarker) || prev.c.key !== this.c.key) return false;
        dom.dataset.name = this.c.name;
        this.place(dom);
        return true;
    }
    private place(el: HTMLElement): void {
        el.className = `cm-peer-caret${this.c.line <= 1 ? ' cm-peer-first' : ''}`;
        el.style.cssText = `--peer-hue: ${this.c.hue}; left: ${this.left}px; top: ${this.top}px; height: ${this.height}px`;
    }
}

// The carets are drawn in a layer over the text, outside the editable content: an element
// inside it would be part of what the browser edits (typing over a selection that ends at a
// caret could leave an extra line break behind, read back as text).
const caretLayer = layer({
    above: true,
    class: 'cm-peer-carets',
    update: (u) => u.docChanged || u.viewportChanged || u.geometryChanged || u.startState.field(caretField, false) !== u.state.field(caretField, false),
    markers(view) {
        const out: CaretMarker[] = [];
        const at = view.state.field(caretField, false)?.at;
        at?.between(0, view.state.doc.length, (from, _to, p) => {
            for (const r of RectangleMarker.forRange(view, '', EditorSelection.cursor(from, 1))) out.push(new CaretMarker(p.c, r.left, r.top, r.height ?? 0));
        });
        return out;
    },
});

const hex = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, '0')).join('');

export class Presence {
    /** This page's id among the workspace's pages. */
    readonly client = `c${hex(8)}`;
    /** The status bar item: one chip per other page; a click follows or unfollows it. */
    readonly element: HTMLElement;
    private peers = new Map<string, Peer>();
    private following = '';
    /** The followed position, when its text had not arrived yet (the text and the position
     *  travel separately): tried again when the text changes. */
    private pending: Peer | null = null;
    private sent = '';
    private inflight = false;
    private again = false;
    private scrolled: EditorView | null = null;
    private disposed = false;
    /** Part of every file's editor state: the others' carets. */
    readonly extension: Extension = [caretField, caretLayer];

    constructor(private ws: number, private hooks: PresenceHooks) {
        this.element = h('span', { class: 'sb-item presence', 'aria-label': 'Who is here', role: 'group' });
        window.addEventListener('pagehide', this.leave);
        this.render();
    }

    /** Follows the others through the workspace's event stream (opened with this.client). */
    listen(events: WorkspaceEvents): void {
        events.on('presence_joined', (d) => {
            if (d && d.client !== this.client) {
                this.sent = ''; // tell the newcomer where I am
                this.moved();
            }
        });
        events.on('presence_left', (d) => {
            const p = d as unknown as Peer | null;
            if (!p || !this.peers.delete(keyOf(p))) return;
            if (this.following === keyOf(p)) this.following = '';
            this.render();
        });
        events.on('presence', (d) => {
            const p = d as unknown as Peer | null;
            if (!p || p.client === this.client) return;
            const known = this.peers.has(keyOf(p));
            this.peers.set(keyOf(p), p);
            // Any file of mine they are on (not only the one shown: a background tab kept in
            // step is never saved stale, and one missed event on the shown file is no matter).
            if (p.path) this.hooks.together?.(p.path);
            if (!known || this.following !== keyOf(p)) this.render();
            else this.renderChip(p);
            this.showCarets();
            if (this.following === keyOf(p)) void this.go(p);
        });
        // Reconnected: the server sent presence_joined for us; our stale peers answer again.
        events.on('open', () => {
            this.peers.clear();
            this.render();
        });
    }

    /** Whether another page is on path now. */
    othersOn(path: string): boolean {
        return [...this.peers.values()].some((p) => p.path === path);
    }

    /** My file, cursor or scroll may have changed: tell the others (coalesced). docChanged:
     *  the text changed, so a followed position that was not there yet may be now. */
    moved(docChanged = false): void {
        if (this.disposed) return;
        if (docChanged && this.pending && this.following === keyOf(this.pending)) void this.go(this.pending);
        const view = this.hooks.view();
        if (view && this.scrolled !== view) {
            this.scrolled = view;
            view.scrollDOM.addEventListener('scroll', () => this.moved(), { passive: true });
            // Someone following who then works themselves stops following.
            view.dom.addEventListener('mousedown', () => this.unfollow());
            view.dom.addEventListener('keydown', () => this.unfollow());
        }
        const spot = this.spot();
        const key = JSON.stringify(spot);
        if (key === this.sent) return;
        if (this.inflight) {
            this.again = true;
            return;
        }
        this.sent = key;
        this.inflight = true;
        presenceApi.move(this.ws, { client: this.client, ...spot })
            .catch(() => { this.sent = ''; })
            .finally(() => {
                this.inflight = false;
                if (this.again) {
                    this.again = false;
                    this.moved();
                }
            });
    }

    private spot(): Spot {
        const view = this.hooks.view();
        const path = this.hooks.active();
        if (!view || !path) return { path, line: 0, column: 0, scroll: 0 };
        const head = view.state.selection.main.head;
        const line = view.state.doc.lineAt(head);
        return { path, line: line.number, column: head - line.from, scroll: Math.round(view.scrollDOM.scrollTop) };
    }

    /** Follows the page whose key (keyOf) is key. */
    follow(key: string): void {
        this.following = key;
        this.render();
        const p = this.peers.get(key);
        if (p) void this.go(p);
    }

    unfollow(): void {
        if (!this.following) return;
        this.following = '';
        this.render();
    }

    /** Moves my editor to where p is. */
    private async go(p: Peer): Promise<void> {
        if (!p.path) return;
        if (this.hooks.active() !== p.path) await this.hooks.open(p.path);
        const view = this.hooks.view();
        if (!view || this.hooks.active() !== p.path || this.following !== keyOf(p)) return;
        const doc = view.state.doc;
        const line = doc.line(Math.min(Math.max(p.line, 1), doc.lines));
        const pos = Math.min(line.from + p.column, line.to);
        this.pending = p.line <= doc.lines && line.from + p.column <= line.to ? null : p;
        view.dispatch({ selection: EditorSelection.cursor(pos) });
        view.scrollDOM.scrollTop = p.scroll;
    }

    private label(p: Peer): string {
        const name = p.user.username ?? `user ${p.user.id}`;
        return p.path ? `${name} · ${p.path}:${p.line}` : name;
    }

    private renderChip(p: Peer): void {
        const chip = this.element.querySelector<HTMLElement>(`[data-key="${CSS.escape(keyOf(p))}"] .presence-where`);
        if (chip) chip.textContent = p.path ? `${p.path}:${p.line}` : '';
    }

    private render(): void {
        const chips = [...this.peers.values()].map((p) => {
            const on = this.following === keyOf(p);
            const name = p.user.username ?? `user ${p.user.id}`;
            return h('button', {
                type: 'button', class: `presence-chip${on ? ' following' : ''}`, dataset: { key: keyOf(p) },
                'aria-pressed': String(on), title: on ? `Following ${this.label(p)} — click to stop` : `Follow ${this.label(p)}`,
                onclick: () => (on ? this.unfollow() : this.follow(keyOf(p))),
            }, h('span', { class: 'presence-avatar', 'aria-hidden': 'true' }, name.slice(0, 1).toUpperCase()),
            h('span', { class: 'presence-name' }, name),
            h('span', { class: 'presence-where' }, p.path ? `${p.path}:${p.line}` : ''));
        });
        this.element.replaceChildren(...chips);
        this.showCarets();
        this.element.hidden = chips.length === 0;
    }

    /** Draws the others' carets on the file shown (after a file is shown, and when they move).
     *  Never from inside an editor update. */
    showCarets(): void {
        const view = this.hooks.view();
        const path = this.hooks.active();
        if (!view || this.disposed || !view.state.field(caretField, false)) return;
        const carets: Caret[] = [];
        for (const p of this.peers.values()) {
            if (p.path !== path || !p.line) continue;
            const name = p.user.username ?? `user ${p.user.id}`;
            carets.push({ key: keyOf(p), name, hue: (p.user.id * 137) % 360, line: p.line, column: p.column });
        }
        view.dispatch({ effects: setCarets.of(carets) });
    }

    /** The page is going: the others drop my chip now rather than when my stream is found closed. */
    private leave = (): void => {
        if (this.disposed) return;
        void presenceApi.leave(this.ws, this.client).catch(() => {});
    };

    dispose(): void {
        this.leave();
        this.disposed = true;
        window.removeEventListener('pagehide', this.leave);
    }
}
