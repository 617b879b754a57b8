// Review pages: "My submissions", the reviewer dashboard (pending / approved / rejected with
// counts) and one submission (read-only snapshot files, its run, a reviewer's re-run of any
// file with stdin and an expected output (review_rerun.ts), line and general comments,
// approve or reject with a comment; the author sees the verdict here). A resubmission opens
// on the diff for reviewers, with the earlier submissions' comments carried onto the lines
// they were on (or marked as made on an earlier version). Opening a submission marks its
// notices read (review_notify.ts).

import {
    ApiError, messageOf, submissions as subApi, type Comment, type EarlierComment, type Submission,
    type SubmissionStatus,
} from '../api';
import { baseExtensions, EditorState, EditorView, languageFor, notesField, setNotes } from '../editor';
import { clear, fileIcon, fmtAgo, fmtBytes, fmtTime, h, icon, statusBadge, toast, confirmDialog } from '../dom';
import { navigate, onLeave } from '../router';
import { finished, RunView } from '../runview';
import { errorBlock, isReviewer, loading, page, user } from '../session';
import { diffBody } from '../diffview';
import { markRead } from './review_notify';
import { RerunForm } from './review_rerun';

function notAvailable(e: unknown): string {
    return messageOf(e);
}

function subTable(items: Submission[], showAuthor: boolean): HTMLElement {
    return h('table', { class: 'table sub-table' },
        h('thead', null, h('tr', null, h('th', null, '#'), h('th', null, 'Workspace'), showAuthor ? h('th', null, 'Author') : null,
            h('th', null, 'Message'), h('th', null, 'Status'), h('th', null, 'Submitted'), h('th', null, 'Decided'))),
        h('tbody', null, items.map((s) =>
            h('tr', { class: 'row-link', dataset: { id: String(s.id) }, onclick: (e: MouseEvent) => { if (!(e.target as Element).closest('a')) navigate(`/submissions/${s.id}`); } },
                h('td', null, h('a', { href: `/submissions/${s.id}` }, `#${s.id}`)),
                h('td', null, s.workspace_name),
                showAuthor ? h('td', null, s.author.username) : null,
                h('td', { class: 'sub-msg' }, s.message || h('span', { class: 'muted' }, 'No message')),
                h('td', null, statusBadge(s.status)),
                h('td', { title: s.created_at }, fmtAgo(s.created_at)),
                h('td', { title: s.decided_at ?? '' }, s.decided_by ? `${s.decided_by.username}, ${fmtAgo(s.decided_at)}` : '–')))));
}

export async function mySubmissionsPage(): Promise<void> {
    const host = h('div', null, loading());
    page('submissions', 'My submissions',
        h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'My submissions'),
            h('p', { class: 'muted' }, 'Workspaces you submitted for review, and what the reviewers decided. Submit from a workspace\u2019s top bar.'))),
        host);
    try {
        const list = await subApi.list('', true);
        clear(host);
        if (!list.items.length) host.append(h('div', { class: 'empty' }, icon('upload', 'empty-icon'), h('p', null, 'Nothing submitted yet.'), h('p', { class: 'muted' }, 'Open a workspace and press Submit to send a snapshot to the reviewers.')));
        else host.append(subTable(list.items, false));
    } catch (e) {
        clear(host);
        host.append(errorBlock(notAvailable(e), () => void mySubmissionsPage()));
    }
}

export async function dashboardPage(query: URLSearchParams): Promise<void> {
    const status = (['pending', 'approved', 'rejected'].includes(query.get('status') ?? '') ? query.get('status') : 'pending') as SubmissionStatus;
    const tabs = h('div', { class: 'seg', role: 'tablist', 'aria-label': 'Submission status' });
    const host = h('div', null, loading());
    page('review', 'Review',
        h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Review'), h('p', { class: 'muted' }, 'Pending submissions are listed oldest first.'))),
        tabs, host);
    const counts: Record<string, string> = {};
    const draw = () => {
        clear(tabs);
        for (const s of ['pending', 'approved', 'rejected'] as const) {
            tabs.append(h('a', { href: `/review?status=${s}`, role: 'tab', class: `seg-item ${s === status ? 'active' : ''}`, 'aria-selected': String(s === status) },
                s[0].toUpperCase() + s.slice(1), h('span', { class: 'count', dataset: { status: s } }, counts[s] ?? '…')));
        }
    };
    draw();
    try {
        const lists = await Promise.all((['pending', 'approved', 'rejected'] as const).map((s) => subApi.list(s)));
        (['pending', 'approved', 'rejected'] as const).forEach((s, i) => (counts[s] = `${lists[i].items.length}${lists[i].next_offset !== null ? '+' : ''}`));
        draw();
        const items = lists[['pending', 'approved', 'rejected'].indexOf(status)].items;
        clear(host);
        if (!items.length) host.append(h('div', { class: 'empty' }, icon('check', 'empty-icon'), h('p', null, status === 'pending' ? 'Nothing waiting for review.' : `No ${status} submissions.`)));
        else host.append(subTable(items, true));
    } catch (e) {
        clear(host);
        host.append(errorBlock(notAvailable(e), () => void dashboardPage(query)));
    }
}

export async function submissionPage(id: number): Promise<void> {
    const main = page(isReviewer() ? 'review' : 'submissions', `Submission #${id}`, loading());
    main.classList.add('page-wide');
    let s: Submission;
    try {
        s = await subApi.get(id);
    } catch (e) {
        main.replaceChildren(errorBlock(e instanceof ApiError && e.status === 404 ? 'This submission does not exist or is not visible to you.' : notAvailable(e), () => void submissionPage(id)));
        return;
    }
    if (s.author.id === user()?.id) {
        // One's own submission belongs under "My submissions", whatever one's role.
        document.querySelectorAll('.nav-link').forEach((a) => a.classList.toggle('active', a.getAttribute('href') === '/submissions'));
    }
    new SubmissionView(main, s);
    void markRead(id);
}

class SubmissionView {
    private view: EditorView | null = null;
    private filePath = '';
    private fileList: HTMLElement;
    private codeHost: HTMLElement;
    private runView = new RunView('This submission has no run yet.');
    private discussion: HTMLElement;
    private commentBox: HTMLTextAreaElement;
    private target: HTMLElement;
    private targetLine: number | null = null;
    private contents = new Map<string, string>();
    /** The first file or diff was opened (render() then keeps what is open). */
    private opened = false;

    constructor(private main: HTMLElement, private s: Submission) {
        onLeave(() => {
            this.runView.dispose();
            this.view?.destroy();
        });
        this.fileList = h('nav', { class: 'snap-files', 'aria-label': 'Files in the snapshot' });
        this.codeHost = h('div', { class: 'snap-code' });
        this.discussion = h('div', { class: 'discussion' });
        this.commentBox = h('textarea', { class: 'input', id: 'comment-body', rows: '3', placeholder: 'Write a comment…', 'aria-label': 'Comment' });
        this.target = h('div', { class: 'comment-target' });
        this.render();
    }

    private render(): void {
        const s = this.s;
        document.title = `#${s.id} ${s.workspace_name} · pyroom`;
        const me = user();
        const canReview = isReviewer() && me?.id !== s.author.id && s.status === 'pending';
        const isAuthor = me?.id === s.author.id;

        const lastReview = s.reviews?.[s.reviews.length - 1];
        const verdict = s.status === 'approved' || s.status === 'rejected'
            ? h('div', { class: `banner banner-${s.status === 'approved' ? 'ok' : 'err'}`, role: 'status', id: 'verdict' },
                icon(s.status === 'approved' ? 'check' : 'x'),
                h('div', null,
                    h('strong', null, `${s.status === 'approved' ? 'Approved' : 'Rejected'} by ${s.decided_by?.username ?? lastReview?.reviewer.username ?? 'a reviewer'}`),
                    s.decided_at ? h('span', { class: 'muted' }, ` · ${fmtTime(s.decided_at)}`) : null,
                    lastReview?.comment ? h('p', { class: 'verdict-comment' }, lastReview.comment) : null))
            : s.status === 'withdrawn' ? h('div', { class: 'banner banner-warn' }, 'Withdrawn by the author.') : null;

        const header = h('div', { class: 'sub-head' },
            h('div', null,
                h('div', { class: 'sub-crumbs muted' }, h('a', { href: isReviewer() && !isAuthor ? '/review' : '/submissions' }, isReviewer() && !isAuthor ? 'Review' : 'My submissions'), ' / ', `#${s.id}`),
                h('h1', null, s.workspace_name, ' ', statusBadge(s.status)),
                h('p', { class: 'muted' }, `Submitted by ${s.author.username} · ${fmtTime(s.created_at)}`, s.previous_id ? [' · resubmission of ', h('a', { href: `/submissions/${s.previous_id}` }, `#${s.previous_id}`)] : null),
                s.message ? h('blockquote', { class: 'sub-message' }, s.message) : null),
            h('div', { class: 'sub-actions' },
                h('a', { class: 'btn', id: 'download-submission', href: subApi.archiveUrl(s.id), download: '', title: 'Download the submitted files as a zip' }, icon('download'), h('span', null, 'Download zip')),
                isAuthor && s.status === 'pending' ? h('button', { type: 'button', class: 'btn', onclick: () => void this.withdraw() }, 'Withdraw') : null,
                isAuthor ? h('a', { class: 'btn', href: `/w/${s.workspace_id}` }, 'Open workspace') : null));

        const files = s.files ?? [];
        clear(this.fileList);
        for (const f of files) {
            this.fileList.append(h('button', { type: 'button', class: `snap-file ${f.path === this.filePath ? 'active' : ''}`, dataset: { path: f.path }, onclick: () => void this.openFile(f.path) },
                fileIcon(f.path), h('span', { class: 'snap-name' }, f.path),
                h('span', { class: 'muted small' }, fmtBytes(f.size)),
                this.countFor(f.path) ? h('span', { class: 'count' }, String(this.countFor(f.path))) : null));
        }
        if (!files.length) this.fileList.append(h('p', { class: 'muted small pad' }, 'No files.'));

        const runSection = h('section', { class: 'side-section' },
            h('div', { class: 'side-head' }, h('h2', null, 'Run'),
                s.entry ? h('span', { class: 'muted small', id: 'entry-file' }, `Entry: ${s.entry}`) : null),
            isReviewer() && !isAuthor ? new RerunForm(s, this.runView).el : null,
            this.runView.el);
        if (s.run) {
            if (finished(s.run)) this.runView.show(s.run);
            else void this.runView.stream(s.run);
        }

        const decide = canReview ? this.decisionForm() : null;

        this.renderDiscussion();
        const commentForm = h('form', { class: 'comment-form', onsubmit: (e: Event) => { e.preventDefault(); void this.postComment(); } },
            this.target, this.commentBox,
            h('div', { class: 'form-row' }, h('span', { class: 'muted small' }, 'Click a line number to comment on that line.'),
                h('button', { type: 'submit', class: 'btn', id: 'post-comment' }, icon('comment'), h('span', null, 'Comment'))));
        this.showTarget();

        this.main.replaceChildren(
            header,
            ...(verdict ? [verdict] : []),
            h('div', { class: 'review-grid' },
                h('div', { class: 'review-files card' }, h('div', { class: 'pane-head' }, h('span', { class: 'pane-title' }, `Files (${files.length})`)),
                    s.previous_id ? h('button', { type: 'button', class: 'snap-file snap-diff', id: 'show-diff', onclick: () => void this.showDiff() }, icon('history'), h('span', { class: 'snap-name' }, `Changes since #${s.previous_id}`)) : null,
                    this.fileList),
                h('div', { class: 'review-code card' }, this.codeHost),
                h('div', { class: 'review-side' },
                    decide,
                    runSection,
                    h('section', { class: 'side-section' }, h('div', { class: 'side-head' }, h('h2', null, 'Discussion')), this.discussion, commentForm))),
        );
        // A reviewer opens a resubmission on what changed since the previous one.
        if (!this.filePath && !this.opened && s.previous_id && isReviewer() && !isAuthor) {
            this.opened = true;
            void this.showDiff();
            return;
        }
        this.opened = true;
        const first = this.filePath || (files.find((f) => f.path === s.entry) ?? files.find((f) => f.path === 'main.py') ?? files[0])?.path;
        if (first) void this.openFile(first);
    }

    /** A resubmission: what changed since the previous submission, as unified diffs. */
    private async showDiff(): Promise<void> {
        const prev = this.s.previous_id;
        if (!prev) return;
        this.filePath = '';
        this.main.querySelectorAll('.snap-file').forEach((b) => b.classList.toggle('active', b.id === 'show-diff'));
        this.view?.destroy();
        this.view = null;
        clear(this.codeHost);
        this.codeHost.append(loading('Comparing…'));
        let files;
        try {
            files = (await subApi.diff(this.s.id, prev)).files;
        } catch (e) {
            clear(this.codeHost);
            this.codeHost.append(errorBlock(messageOf(e)));
            return;
        }
        clear(this.codeHost);
        const box = h('div', { class: 'diff-view' });
        if (!files.length) box.append(h('p', { class: 'muted pad' }, `No file changed since #${prev}.`));
        for (const f of files) {
            const body = diffBody(f);
            // What was said about this file before, where its line is now.
            const said = (this.s.earlier_comments ?? []).filter((e) => e.path === f.path);
            box.append(h('section', { class: 'diff-file' },
                h('header', { class: 'diff-head' }, h('span', { class: `badge badge-${f.status === 'added' ? 'approved' : f.status === 'removed' ? 'rejected' : 'pending'}` }, f.status), h('strong', null, f.path),
                    f.added !== undefined ? h('span', { class: 'muted small' }, `+${f.added} −${f.removed ?? 0}`) : null),
                body,
                said.length ? h('div', { class: 'diff-earlier' }, said.map((e) => this.earlierEl(e))) : null));
        }
        this.codeHost.append(box);
    }

    private countFor(path: string): number {
        return (this.s.comments ?? []).filter((c) => c.path === path).length;
    }

    private decisionForm(): HTMLElement {
        const comment = h('textarea', { class: 'input', id: 'review-comment', rows: '3', placeholder: 'Comment for the author (required to reject)', 'aria-label': 'Review comment' });
        const err = h('div', { class: 'form-error', role: 'alert', hidden: true });
        const go = async (decision: 'approve' | 'reject') => {
            err.hidden = true;
            if (decision === 'reject' && !comment.value.trim()) {
                err.textContent = 'Say why it is rejected: a comment is required.';
                err.hidden = false;
                comment.focus();
                return;
            }
            try {
                this.s = await subApi.review(this.s.id, decision, comment.value.trim());
                if (!this.s.files) this.s = await subApi.get(this.s.id);
                toast(decision === 'approve' ? 'Approved.' : 'Rejected.', 'ok');
                this.render();
            } catch (e) {
                err.textContent = e instanceof ApiError && e.code === 'already_decided' ? 'Someone already decided this submission. Reload to see it.' : messageOf(e);
                err.hidden = false;
            }
        };
        return h('section', { class: 'side-section decide' },
            h('div', { class: 'side-head' }, h('h2', null, 'Decision')),
            comment, err,
            h('div', { class: 'form-row end' },
                h('button', { type: 'button', class: 'btn btn-danger', id: 'reject', onclick: () => void go('reject') }, icon('x'), h('span', null, 'Reject')),
                h('button', { type: 'button', class: 'btn btn-ok', id: 'approve', onclick: () => void go('approve') }, icon('check'), h('span', null, 'Approve'))));
    }

    private renderDiscussion(): void {
        clear(this.discussion);
        type Item = { at: string; el: HTMLElement };
        const items: Item[] = [];
        for (const r of this.s.reviews ?? []) {
            items.push({ at: r.at, el: h('div', { class: `note note-${r.decision}` },
                h('div', { class: 'note-head' }, h('strong', null, r.reviewer.username), ` ${r.decision === 'approve' ? 'approved' : 'rejected'}`, h('span', { class: 'muted' }, ` · ${fmtAgo(r.at)}`)),
                r.comment ? h('p', { class: 'note-body' }, r.comment) : null) });
        }
        for (const c of this.s.comments ?? []) items.push({ at: c.at, el: this.commentEl(c) });
        items.sort((a, b) => a.at.localeCompare(b.at));
        const earlier = [...(this.s.earlier_comments ?? [])].sort((a, b) => a.at.localeCompare(b.at));
        if (earlier.length) {
            this.discussion.append(h('div', { class: 'earlier-head muted small', id: 'earlier-comments' }, `From earlier submissions (${earlier.length})`));
            for (const e of earlier) this.discussion.append(this.earlierEl(e));
            if (items.length) this.discussion.append(h('div', { class: 'earlier-head muted small' }, 'On this submission'));
        }
        if (!items.length && !earlier.length) this.discussion.append(h('p', { class: 'muted small' }, 'No comments yet.'));
        for (const i of items) this.discussion.append(i.el);
    }

    /** A comment or decision of an earlier submission: where its line is now, or that it was
     * made on an earlier version. */
    private earlierEl(e: EarlierComment): HTMLElement {
        const from = h('a', { class: 'note-from', href: `/submissions/${e.submission_id}` }, `#${e.submission_id}`);
        if (e.decision) {
            return h('div', { class: `note note-earlier note-${e.decision}` },
                h('div', { class: 'note-head' }, h('strong', null, e.reviewer?.username ?? 'a reviewer'), ` ${e.decision === 'approve' ? 'approved' : 'rejected'} `, from,
                    h('span', { class: 'muted' }, ` · ${fmtAgo(e.at)}`)),
                e.comment ? h('p', { class: 'note-body' }, e.comment) : null);
        }
        const where = e.path
            ? e.line
                ? h('button', { type: 'button', class: 'link note-loc', onclick: () => void this.openFile(e.path!, e.line ?? undefined) },
                    `${e.path}:${e.line}`, e.original_line && e.original_line !== e.line ? h('span', { class: 'muted' }, ` (line ${e.original_line} in #${e.submission_id})`) : null)
                : h('span', { class: 'note-outdated muted' }, `${e.path}${e.original_line ? `:${e.original_line}` : ''} · on an earlier version`)
            : null;
        return h('div', { class: `note note-earlier ${e.outdated ? 'outdated' : ''}`, dataset: { earlier: String(e.id) } },
            h('div', { class: 'note-head' }, h('strong', null, e.author?.username ?? 'someone'), ' ', from, ' ', where,
                h('span', { class: 'muted' }, ` · ${fmtAgo(e.at)}`)),
            h('p', { class: 'note-body' }, e.body ?? ''));
    }

    private commentEl(c: Comment): HTMLElement {
        return h('div', { class: 'note' },
            h('div', { class: 'note-head' }, h('strong', null, c.author.username),
                c.path ? h('button', { type: 'button', class: 'link note-loc', onclick: () => void this.openFile(c.path!, c.line ?? undefined) }, `${c.path}${c.line ? `:${c.line}` : ''}`) : null,
                h('span', { class: 'muted' }, ` · ${fmtAgo(c.at)}`)),
            h('p', { class: 'note-body' }, c.body));
    }

    private showTarget(): void {
        clear(this.target);
        if (this.filePath && this.targetLine) {
            this.target.append(h('span', { class: 'chip' }, `${this.filePath}:${this.targetLine}`,
                h('button', { type: 'button', class: 'chip-x', 'aria-label': 'Comment on the whole submission instead', onclick: () => { this.targetLine = null; this.showTarget(); } }, icon('x'))));
        } else {
            this.target.append(h('span', { class: 'muted small' }, 'General comment'));
        }
    }

    private async openFile(path: string, line?: number): Promise<void> {
        this.filePath = path;
        this.fileList.querySelectorAll('.snap-file').forEach((b) => b.classList.toggle('active', (b as HTMLElement).dataset.path === path));
        this.main.querySelector('#show-diff')?.classList.remove('active');
        if (/\.(png|jpe?g|gif|webp|bmp|ico)$/i.test(path)) {
            this.view?.destroy();
            this.view = null;
            clear(this.codeHost);
            this.codeHost.append(h('div', { class: 'preview' }, h('img', { class: 'preview-img', src: subApi.fileUrl(this.s.id, path), alt: path })));
            return;
        }
        let text = this.contents.get(path);
        if (text === undefined) {
            clear(this.codeHost);
            this.codeHost.append(loading(`Loading ${path}…`));
            try {
                text = await subApi.file(this.s.id, path);
                this.contents.set(path, text);
            } catch (e) {
                clear(this.codeHost);
                this.codeHost.append(errorBlock(messageOf(e)));
                return;
            }
        }
        if (this.filePath !== path) return;
        const state = EditorState.create({
            doc: text,
            extensions: [baseExtensions({}, true, (n) => { this.targetLine = n; this.showTarget(); this.commentBox.focus(); }), languageFor(path), notesField],
        });
        if (!this.view) {
            clear(this.codeHost);
            this.view = new EditorView({ state, parent: this.codeHost });
        } else {
            this.view.setState(state);
            if (!this.view.dom.isConnected) {
                clear(this.codeHost);
                this.codeHost.append(this.view.dom);
            }
        }
        this.showNotes();
        if (line && line <= state.doc.lines) {
            const pos = state.doc.line(line).from;
            this.view.dispatch({ selection: { anchor: pos }, effects: EditorView.scrollIntoView(pos, { y: 'center' }) });
        }
        this.showTarget();
    }

    private showNotes(): void {
        if (!this.view) return;
        const notes = (this.s.comments ?? []).filter((c) => c.path === this.filePath && c.line).map((c) => ({ line: c.line!, author: c.author.username, body: c.body, at: c.at }));
        // Earlier submissions' comments whose line survived, at the line it is on now.
        for (const e of this.s.earlier_comments ?? []) {
            if (e.path === this.filePath && e.line && e.body) notes.push({ line: e.line, author: `${e.author?.username ?? 'someone'} (#${e.submission_id})`, body: e.body, at: e.at });
        }
        this.view.dispatch({ effects: setNotes.of(notes) });
    }

    private async postComment(): Promise<void> {
        const body = this.commentBox.value.trim();
        if (!body) {
            this.commentBox.focus();
            return;
        }
        try {
            const c = await subApi.comment(this.s.id, body, this.targetLine ? this.filePath : null, this.targetLine);
            this.s.comments = [...(this.s.comments ?? []), c];
            this.commentBox.value = '';
            this.targetLine = null;
            this.showTarget();
            this.renderDiscussion();
            this.showNotes();
        } catch (e) {
            toast(messageOf(e), 'error');
        }
    }

    private async withdraw(): Promise<void> {
        if (!(await confirmDialog('Withdraw submission?', 'Reviewers will no longer see it in their queue.', 'Withdraw'))) return;
        try {
            this.s = await subApi.withdraw(this.s.id);
            if (!this.s.files) this.s = await subApi.get(this.s.id);
            this.render();
        } catch (e) {
            toast(messageOf(e), 'error');
        }
    }
}
