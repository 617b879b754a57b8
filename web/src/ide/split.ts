// Draggable pane dividers whose sizes are remembered. Each divider sets one CSS custom
// property on the IDE root (e.g. --sidebar-w), so the layout stays in the stylesheet.

import { h, prefs } from '../dom';

export interface SplitOptions {
    root: HTMLElement;
    /** The CSS property to set, e.g. '--sidebar-w'. */
    prop: string;
    /** 'x' drags horizontally (column widths), 'y' vertically (row heights). */
    axis: 'x' | 'y';
    /** +1 when dragging right/down grows the pane, -1 when it shrinks it. */
    dir: 1 | -1;
    min: number;
    max: () => number;
    initial: number;
    key: string;
    label: string;
    onResize?: () => void;
}

export function splitter(o: SplitOptions): HTMLElement {
    let size = prefs.get<number>(o.key, o.initial);
    const apply = () => {
        size = Math.max(o.min, Math.min(o.max(), size));
        o.root.style.setProperty(o.prop, `${Math.round(size)}px`);
        handle.setAttribute('aria-valuenow', String(Math.round(size)));
        o.onResize?.();
    };
    const handle = h('div', {
        class: `splitter splitter-${o.axis}`,
        role: 'separator',
        tabindex: '0',
        'aria-label': o.label,
        'aria-orientation': o.axis === 'x' ? 'vertical' : 'horizontal',
        'aria-valuemin': String(o.min),
    });
    handle.addEventListener('pointerdown', (e) => {
        e.preventDefault();
        handle.setPointerCapture(e.pointerId);
        const start = o.axis === 'x' ? e.clientX : e.clientY;
        const startSize = size;
        document.body.classList.add(o.axis === 'x' ? 'resizing-x' : 'resizing-y');
        const move = (ev: PointerEvent) => {
            const d = (o.axis === 'x' ? ev.clientX : ev.clientY) - start;
            size = startSize + o.dir * d;
            apply();
        };
        const up = () => {
            handle.removeEventListener('pointermove', move);
            handle.removeEventListener('pointerup', up);
            handle.removeEventListener('pointercancel', up);
            document.body.classList.remove('resizing-x', 'resizing-y');
            prefs.set(o.key, Math.round(size));
        };
        handle.addEventListener('pointermove', move);
        handle.addEventListener('pointerup', up);
        handle.addEventListener('pointercancel', up);
    });
    handle.addEventListener('keydown', (e) => {
        const step = e.shiftKey ? 64 : 16;
        const grow = o.axis === 'x' ? ['ArrowRight', 'ArrowLeft'] : ['ArrowDown', 'ArrowUp'];
        if (e.key === grow[0]) size += o.dir * step;
        else if (e.key === grow[1]) size -= o.dir * step;
        else return;
        e.preventDefault();
        apply();
        prefs.set(o.key, Math.round(size));
    });
    handle.addEventListener('dblclick', () => {
        size = o.initial;
        apply();
        prefs.set(o.key, size);
    });
    queueMicrotask(apply);
    // Clamp to the window on resize, for as long as the divider is on the page.
    const onResize = () => {
        if (!handle.isConnected) window.removeEventListener('resize', onResize);
        else apply();
    };
    window.addEventListener('resize', onResize);
    return handle;
}
