// Small text merges for co-editing (collab.ts) and drafts of co-edited files (files.ts): the
// smallest change between two texts (one replaced middle), and a three-way merge of two such
// changes made to one origin. A merge keeps both sides' inserted text: where the two changes
// overlap, mine goes right after theirs, so no keystroke is dropped (the user tidies it).

export interface Change { from: number; to: number; insert: string }

/** The smallest change that turns `from` into `to` (one replaced middle); null when equal. */
export function diff(from: string, to: string): Change | null {
    if (from === to) return null;
    let a = 0;
    while (a < from.length && a < to.length && from[a] === to[a]) a++;
    let b = 0;
    while (b < from.length - a && b < to.length - a && from[from.length - 1 - b] === to[to.length - 1 - b]) b++;
    return { from: a, to: from.length - b, insert: to.slice(a, to.length - b) };
}

/** Where mine (a change of origin) goes in theirs (origin after their change t); null when
 *  theirs holds it already. The two often are one change seen twice: my keystrokes that a
 *  peer saved (or posted) before my draft or join caught up, perhaps only their beginning. */
export function mapChange(mine: Change, t: Change | null): Change | null {
    if (!t) return mine;
    if (mine.from === t.from && mine.to === t.to) {
        if (t.insert.startsWith(mine.insert)) return null;
        if (mine.insert.startsWith(t.insert)) return { from: t.from + t.insert.length, to: t.from + t.insert.length, insert: mine.insert.slice(t.insert.length) };
    }
    if (mine.to <= t.from) return mine;
    const shift = t.insert.length - (t.to - t.from);
    if (mine.from >= t.to) return { from: mine.from + shift, to: mine.to + shift, insert: mine.insert };
    // Overlapping edits: keep theirs whole and add mine after it, unless it is in there.
    if (t.insert.includes(mine.insert)) return null;
    const at = t.from + t.insert.length;
    return { from: at, to: at, insert: mine.insert };
}

/** origin changed into mine here and into theirs elsewhere: theirs with my change on top. */
export function merge3(origin: string, mine: string, theirs: string): string {
    const m = diff(origin, mine);
    if (!m) return theirs;
    const c = mapChange(m, diff(origin, theirs));
    return c ? theirs.slice(0, c.from) + c.insert + theirs.slice(c.to) : theirs;
}
