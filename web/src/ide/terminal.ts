// One terminal: xterm.js on a WebSocket to /api/workspaces/{id}/terminal?name=N. Binary
// frames carry terminal bytes both ways; text frames carry JSON control messages (resize
// from us; exit and error from the server). The socket reconnects by itself with backoff,
// and the server replays the scrollback of the same shell, so a reload or a network blip
// loses nothing. A browser is not told why a WebSocket handshake failed (a 429 at the
// terminal limit looks like any lost connection), so after a failed attempt the owner's
// `diagnose` asks the server; a limit it names stops the retries until the user acts
// (state 'refused'). This module is loaded on first use (xterm.js is a separate chunk).

import { FitAddon } from '@xterm/addon-fit';
import { Terminal, type ITheme } from '@xterm/xterm';
import { terminals as termApi } from '../api';

export type TermState = 'connecting' | 'open' | 'reconnecting' | 'exited' | 'error' | 'refused';

function themeFromCss(): ITheme {
    const cs = getComputedStyle(document.documentElement);
    const v = (name: string) => cs.getPropertyValue(name).trim();
    return {
        background: v('--term-bg'),
        foreground: v('--term-fg'),
        cursor: v('--accent'),
        cursorAccent: v('--term-bg'),
        selectionBackground: v('--selection'),
        black: v('--ansi-black'), red: v('--ansi-red'), green: v('--ansi-green'), yellow: v('--ansi-yellow'),
        blue: v('--ansi-blue'), magenta: v('--ansi-magenta'), cyan: v('--ansi-cyan'), white: v('--ansi-white'),
        brightBlack: v('--ansi-bright-black'), brightRed: v('--ansi-red'), brightGreen: v('--ansi-green'),
        brightYellow: v('--ansi-yellow'), brightBlue: v('--ansi-blue'), brightMagenta: v('--ansi-magenta'),
        brightCyan: v('--ansi-cyan'), brightWhite: v('--ansi-bright-white'),
    };
}

export class TermSession {
    readonly term: Terminal;
    private fit = new FitAddon();
    private ws: WebSocket | null = null;
    private retry = 0;
    private timer = 0;
    private disposed = false;
    private everOpen = false;
    private enc = new TextEncoder();
    private scheme = matchMedia('(prefers-color-scheme: dark)');
    private observer: ResizeObserver;
    state: TermState = 'connecting';
    detail = '';

    constructor(
        readonly host: HTMLElement,
        readonly workspace: number,
        readonly name: string,
        private onState: (t: TermSession) => void,
        /** After a failed connection: why, if the server refuses it (a limit), else null. */
        private diagnose: () => Promise<string | null> = async () => null,
        /** Watch only (a viewer): the server's mode=view; typing and resizes are not sent. */
        readonly watch = false,
    ) {
        this.term = new Terminal({
            fontFamily: getComputedStyle(document.documentElement).getPropertyValue('--mono').trim() || 'monospace',
            fontSize: 13,
            lineHeight: 1.2, // xterm 6 hides underscores at the default line height
            cursorBlink: true,
            scrollback: 5000,
            allowProposedApi: false,
            theme: themeFromCss(),
            disableStdin: watch,
        });
        this.term.loadAddon(this.fit);
        this.term.open(host);
        this.term.onData((d) => this.send(this.enc.encode(d)));
        this.term.onBinary((d) => {
            const b = new Uint8Array(d.length);
            for (let i = 0; i < d.length; i++) b[i] = d.charCodeAt(i) & 0xff;
            this.send(b);
        });
        this.term.onResize(({ cols, rows }) => !watch && this.control({ type: 'resize', cols, rows }));
        this.observer = new ResizeObserver(() => this.refit());
        this.observer.observe(host);
        this.scheme.addEventListener('change', this.retheme);
        this.connect();
    }

    private retheme = (): void => {
        this.term.options.theme = themeFromCss();
    };

    refit(): void {
        if (this.disposed || !this.host.offsetParent) return;
        try {
            this.fit.fit();
        } catch {
            /* hidden: fit later */
        }
    }

    focus(): void {
        this.term.focus();
    }

    private setState(s: TermState, detail = ''): void {
        this.state = s;
        this.detail = detail;
        this.onState(this);
    }

    connect(): void {
        if (this.disposed) return;
        clearTimeout(this.timer);
        this.setState(this.everOpen ? 'reconnecting' : 'connecting', this.everOpen ? 'Reconnecting…' : 'Connecting…');
        let ws: WebSocket;
        try {
            ws = new WebSocket(termApi.socketUrl(this.workspace, this.name, this.watch));
        } catch (e) {
            this.setState('error', String(e));
            return;
        }
        ws.binaryType = 'arraybuffer';
        this.ws = ws;
        let exited = false;
        ws.onopen = () => {
            this.retry = 0;
            if (this.everOpen) this.term.reset(); // the server replays the scrollback
            this.everOpen = true;
            this.setState('open');
            this.refit();
            this.control({ type: 'resize', cols: this.term.cols, rows: this.term.rows });
        };
        ws.onmessage = (ev) => {
            if (typeof ev.data === 'string') {
                let msg: { type?: string; code?: number; message?: string };
                try {
                    msg = JSON.parse(ev.data);
                } catch {
                    return;
                }
                if (msg.type === 'exit') {
                    exited = true;
                    this.term.write(`\r\n\x1b[2m[process exited with code ${msg.code ?? '?'}]\x1b[0m\r\n`);
                    this.setState('exited', `Exited (${msg.code ?? '?'})`);
                } else if (msg.type === 'error') {
                    this.term.write(`\r\n\x1b[31m[${msg.message ?? 'terminal error'}]\x1b[0m\r\n`);
                    this.setState('error', msg.message ?? 'Terminal error');
                }
            } else {
                this.term.write(new Uint8Array(ev.data as ArrayBuffer));
            }
        };
        let opened = false;
        ws.addEventListener('open', () => (opened = true));
        ws.onclose = async () => {
            if (this.ws !== ws) return;
            this.ws = null;
            if (this.disposed || exited) return;
            if (!opened) {
                let why: string | null = null;
                try {
                    why = await this.diagnose();
                } catch {
                    /* the server is unreachable: retry as usual */
                }
                if (this.disposed || this.ws) return;
                if (why) {
                    this.setState('refused', why);
                    return;
                }
            }
            const delay = Math.min(500 * 2 ** this.retry, 15000);
            this.retry++;
            const secs = Math.ceil(delay / 1000);
            this.setState('reconnecting', this.everOpen ? `Reconnecting in ${secs} s` : `Cannot connect; retrying in ${secs} s`);
            this.timer = window.setTimeout(() => this.connect(), delay);
        };
    }

    /** Restart after an exit: a new shell. */
    restart(): void {
        this.retry = 0;
        this.term.reset();
        this.connect();
    }

    private send(bytes: Uint8Array): void {
        if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(bytes);
    }
    private control(msg: object): void {
        if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
    }

    dispose(): void {
        this.disposed = true;
        clearTimeout(this.timer);
        this.observer.disconnect();
        this.scheme.removeEventListener('change', this.retheme);
        const ws = this.ws;
        this.ws = null;
        ws?.close();
        this.term.dispose();
    }
}
