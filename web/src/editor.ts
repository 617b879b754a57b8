// CodeMirror 6 set-up shared by the IDE and the review view. One EditorView shows one
// EditorState at a time; each open file keeps its own state (so its own undo history), and
// switching tabs swaps states. Colours come from CSS variables, so one theme serves light
// and dark and follows the system without reconfiguring.

import { autocompletion, closeBrackets, closeBracketsKeymap, completionKeymap } from '@codemirror/autocomplete';
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { python } from '@codemirror/lang-python';
import {
    bracketMatching, foldGutter, foldKeymap, HighlightStyle, indentOnInput, indentUnit, syntaxHighlighting,
} from '@codemirror/language';
import { highlightSelectionMatches, searchKeymap } from '@codemirror/search';
import { EditorState, Prec, type Extension, StateEffect, StateField, RangeSetBuilder } from '@codemirror/state';
import {
    crosshairCursor, Decoration, type DecorationSet, drawSelection, dropCursor, EditorView, highlightActiveLine,
    highlightActiveLineGutter, highlightSpecialChars, keymap, lineNumbers, rectangularSelection, WidgetType,
} from '@codemirror/view';
import { tags as t } from '@lezer/highlight';

const highlight = HighlightStyle.define([
    { tag: [t.keyword, t.controlKeyword, t.operatorKeyword, t.definitionKeyword, t.moduleKeyword], color: 'var(--syn-keyword)' },
    { tag: [t.string, t.special(t.string), t.regexp], color: 'var(--syn-string)' },
    { tag: [t.number, t.bool, t.null, t.atom], color: 'var(--syn-number)' },
    { tag: [t.comment, t.lineComment, t.blockComment], color: 'var(--syn-comment)', fontStyle: 'italic' },
    { tag: [t.function(t.variableName), t.function(t.definition(t.variableName))], color: 'var(--syn-function)' },
    { tag: [t.definition(t.variableName)], color: 'var(--syn-def)' },
    { tag: [t.className, t.definition(t.className), t.typeName], color: 'var(--syn-type)' },
    { tag: [t.propertyName, t.attributeName], color: 'var(--syn-property)' },
    { tag: [t.self, t.special(t.variableName)], color: 'var(--syn-self)', fontStyle: 'italic' },
    { tag: [t.meta, t.annotation], color: 'var(--syn-meta)' },
    { tag: [t.operator, t.punctuation, t.bracket], color: 'var(--syn-punct)' },
    { tag: t.invalid, color: 'var(--danger)' },
    { tag: t.heading, fontWeight: '600' },
    { tag: t.emphasis, fontStyle: 'italic' },
    { tag: t.strong, fontWeight: '600' },
]);

const theme = EditorView.theme({
    '&': { height: '100%', color: 'var(--fg)', backgroundColor: 'var(--editor-bg)', fontSize: 'var(--code-size)' },
    '.cm-scroller': { fontFamily: 'var(--mono)', lineHeight: '1.55' },
    '.cm-content': { caretColor: 'var(--accent)', padding: '6px 0' },
    '.cm-cursor, .cm-dropCursor': { borderLeftColor: 'var(--accent)', borderLeftWidth: '2px' },
    '&.cm-focused > .cm-scroller > .cm-selectionLayer .cm-selectionBackground, .cm-selectionBackground, ::selection': {
        backgroundColor: 'var(--selection) !important',
    },
    '.cm-gutters': { backgroundColor: 'var(--editor-bg)', color: 'var(--fg-faint)', border: 'none', paddingRight: '4px' },
    '.cm-lineNumbers .cm-gutterElement': { padding: '0 8px 0 14px', minWidth: '36px' },
    '.cm-activeLine': { backgroundColor: 'var(--active-line)' },
    '.cm-activeLineGutter': { backgroundColor: 'transparent', color: 'var(--fg-muted)' },
    '.cm-foldGutter .cm-gutterElement': { color: 'var(--fg-faint)', cursor: 'pointer' },
    '&.cm-focused .cm-matchingBracket': { backgroundColor: 'var(--bracket-match)', outline: '1px solid var(--border-strong)' },
    '.cm-selectionMatch': { backgroundColor: 'var(--selection-match)' },
    '.cm-searchMatch': { backgroundColor: 'var(--search-match)', outline: '1px solid var(--warn)' },
    '.cm-searchMatch.cm-searchMatch-selected': { backgroundColor: 'var(--selection)' },
    '.cm-panels': { backgroundColor: 'var(--surface-2)', color: 'var(--fg)', borderColor: 'var(--border)' },
    '.cm-panels.cm-panels-bottom': { borderTop: '1px solid var(--border)' },
    '.cm-panel.cm-search': { padding: '6px 8px', fontFamily: 'var(--sans)', fontSize: '12px' },
    '.cm-panel.cm-search input, .cm-panel.cm-search button': { fontSize: '12px' },
    '.cm-textfield': { backgroundColor: 'var(--input-bg)', color: 'var(--fg)', border: '1px solid var(--border-strong)', borderRadius: '4px', padding: '2px 6px' },
    '.cm-button': { backgroundImage: 'none', backgroundColor: 'var(--surface-3)', color: 'var(--fg)', border: '1px solid var(--border-strong)', borderRadius: '4px' },
    '.cm-tooltip': { backgroundColor: 'var(--surface-2)', border: '1px solid var(--border-strong)', borderRadius: '6px', boxShadow: 'var(--shadow)' },
    '.cm-tooltip-autocomplete > ul > li[aria-selected]': { backgroundColor: 'var(--accent-soft)', color: 'var(--fg)' },
    '.cm-tooltip-autocomplete > ul': { fontFamily: 'var(--mono)' },
    // Language cards (src/lang.ts): hover, signature help, completion docs, squiggles.
    '.cm-lang-card, .cm-lang-info': { maxWidth: '560px', maxHeight: '320px', overflow: 'auto', padding: '6px 10px', fontSize: '12.5px' },
    '.cm-lang-code': { margin: '0 0 4px', fontFamily: 'var(--mono)', whiteSpace: 'pre-wrap', wordBreak: 'break-word', color: 'var(--syn-function)' },
    '.cm-lang-active': { color: 'var(--accent)', textDecoration: 'underline' },
    '.cm-lang-doc': { whiteSpace: 'pre-wrap', color: 'var(--fg-muted)', fontFamily: 'var(--sans)' },
    '.cm-diagnostic': { fontFamily: 'var(--sans)', fontSize: '12.5px' },
    '.cm-lintRange-error': { backgroundImage: 'none', textDecoration: 'underline wavy var(--danger)', textUnderlineOffset: '3px' },
    '.cm-lintRange-warning': { backgroundImage: 'none', textDecoration: 'underline wavy var(--warn)', textUnderlineOffset: '3px' },
});

/** The file's language support: Python for .py (and .pyw, .pyi), plain text otherwise. */
export function languageFor(path: string): Extension {
    return /\.pyw?$|\.pyi$/.test(path) ? python() : [];
}

export interface EditorHooks {
    onSave?: () => void;
    onRun?: () => void;
}

/** Extensions every editable state shares (the hooks are read at key time). */
export function baseExtensions(hooks: EditorHooks, readOnly = false, onLineClick?: (line: number) => void): Extension[] {
    return [
        Prec.highest(
            keymap.of([
                { key: 'Mod-s', preventDefault: true, run: () => (hooks.onSave?.(), true) },
                { key: 'Mod-Enter', preventDefault: true, run: () => (hooks.onRun?.(), true) },
            ]),
        ),
        lineNumbers(onLineClick ? {
            domEventHandlers: {
                mousedown(view, block) {
                    onLineClick(view.state.doc.lineAt(block.from).number);
                    return true;
                },
            },
        } : {}),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        foldGutter({ openText: '▾', closedText: '▸' }),
        drawSelection(),
        dropCursor(),
        EditorState.allowMultipleSelections.of(true),
        indentOnInput(),
        indentUnit.of('    '),
        EditorState.tabSize.of(4),
        syntaxHighlighting(highlight),
        bracketMatching(),
        closeBrackets(),
        autocompletion(),
        rectangularSelection(),
        crosshairCursor(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        keymap.of([...closeBracketsKeymap, ...defaultKeymap, ...searchKeymap, ...historyKeymap, ...foldKeymap, ...completionKeymap, indentWithTab]),
        theme,
        EditorView.contentAttributes.of({ 'aria-label': 'Code editor' }),
        readOnly ? [EditorState.readOnly.of(true), EditorView.editable.of(false)] : [],
    ];
}

// Line comments in the review view: block widgets under the commented lines.
export interface LineNote {
    line: number;
    author: string;
    body: string;
    at: string;
}
class NoteWidget extends WidgetType {
    constructor(readonly notes: LineNote[]) {
        super();
    }
    eq(other: NoteWidget): boolean {
        return JSON.stringify(other.notes) === JSON.stringify(this.notes);
    }
    toDOM(): HTMLElement {
        const box = document.createElement('div');
        box.className = 'cm-line-notes';
        for (const n of this.notes) {
            const item = document.createElement('div');
            item.className = 'cm-line-note';
            const who = document.createElement('strong');
            who.textContent = n.author;
            const body = document.createElement('span');
            body.textContent = ` ${n.body}`;
            item.append(who, body);
            box.appendChild(item);
        }
        return box;
    }
}
export const setNotes = StateEffect.define<LineNote[]>();
export const notesField = StateField.define<DecorationSet>({
    create: () => Decoration.none,
    update(deco, tr) {
        for (const e of tr.effects) {
            if (e.is(setNotes)) {
                const byLine = new Map<number, LineNote[]>();
                for (const n of e.value) {
                    if (n.line < 1 || n.line > tr.state.doc.lines) continue;
                    byLine.set(n.line, [...(byLine.get(n.line) ?? []), n]);
                }
                const b = new RangeSetBuilder<Decoration>();
                for (const line of [...byLine.keys()].sort((a, c) => a - c)) {
                    const pos = tr.state.doc.line(line).to;
                    b.add(pos, pos, Decoration.widget({ widget: new NoteWidget(byLine.get(line)!), block: true, side: 1 }));
                }
                return b.finish();
            }
        }
        return deco.map(tr.changes);
    },
    provide: (f) => EditorView.decorations.from(f),
});

export { EditorState, EditorView };
export type { Extension };
