// Client-side routes on the History API. The server answers index.html for every non-/api
// path, so each of these URLs can be reloaded or shared.

export type Params = Record<string, string>;
export interface Route {
    pattern: RegExp;
    keys: string[];
    render: (params: Params, query: URLSearchParams) => void | Promise<void>;
}

const routes: Route[] = [];
let notFound: () => void = () => {};
/** Each page may register a cleanup (close sockets, flush saves) run before the next page. */
let cleanup: (() => void) | null = null;

export function route(path: string, render: Route['render']): void {
    const keys: string[] = [];
    const src = path.replace(/:([a-z]+)/g, (_, k: string) => {
        keys.push(k);
        return '([^/]+)';
    });
    routes.push({ pattern: new RegExp(`^${src}/?$`), keys, render });
}

export function setNotFound(fn: () => void): void {
    notFound = fn;
}

export function onLeave(fn: () => void): void {
    cleanup = fn;
}

export function navigate(url: string, replace = false): void {
    if (replace) history.replaceState(null, '', url);
    else history.pushState(null, '', url);
    dispatch();
}

export function dispatch(): void {
    if (cleanup) {
        const c = cleanup;
        cleanup = null;
        c();
    }
    const path = location.pathname;
    for (const r of routes) {
        const m = r.pattern.exec(path);
        if (m) {
            const params: Params = {};
            r.keys.forEach((k, i) => (params[k] = decodeURIComponent(m[i + 1])));
            void r.render(params, new URLSearchParams(location.search));
            return;
        }
    }
    notFound();
}

export function startRouter(): void {
    window.addEventListener('popstate', dispatch);
    // Same-origin links navigate without a reload (modifier clicks keep their meaning).
    document.addEventListener('click', (e) => {
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        const a = (e.target as Element).closest?.('a');
        if (!a || a.target || a.hasAttribute('download')) return;
        const href = a.getAttribute('href');
        if (!href || !href.startsWith('/') || href.startsWith('/api/')) return;
        e.preventDefault();
        navigate(href);
    });
    dispatch();
}
