// The IDE's page-wide shortcuts (the editor's own keys are in editor.ts and lang.ts).

export interface KeyHooks {
    save(): void;
    run(): void;
    /** Go to file (Ctrl+P). */
    quickOpen(): void;
    /** Search in all files (Ctrl+Shift+F). */
    search(): void;
    /** Find and replace in the editor; false when no editor is shown. */
    replace(): boolean;
    toggleTerminal(): void;
}

/** A keydown listener for the document. */
export function ideKeys(k: KeyHooks): (e: KeyboardEvent) => void {
    return (e) => {
        const mod = e.ctrlKey || e.metaKey;
        if (mod && e.key === 's') {
            e.preventDefault();
            k.save();
        } else if ((mod && e.key === 'Enter') || (e.key === 'F5' && !mod && !e.shiftKey)) {
            // F5 as in other editors; it would otherwise reload the page.
            e.preventDefault();
            k.run();
        } else if (mod && !e.shiftKey && e.key.toLowerCase() === 'p') {
            // Ctrl+P is Print in a browser; here it is "go to file", as in other editors.
            e.preventDefault();
            k.quickOpen();
        } else if (mod && e.key.toLowerCase() === 'h') {
            // Ctrl+H (history in some browsers) opens find and replace, as in other editors.
            if (k.replace()) e.preventDefault();
        } else if (e.ctrlKey && e.key === '`') {
            e.preventDefault();
            k.toggleTerminal();
        }
    };
}

/** A keydown listener for the capture phase: keys the editor would take for itself first
 *  (Ctrl+Shift+F would open its own find panel). */
export function ideCaptureKeys(k: KeyHooks): (e: KeyboardEvent) => void {
    return (e) => {
        if ((e.ctrlKey || e.metaKey) && e.shiftKey && e.key.toLowerCase() === 'f') {
            e.preventDefault();
            e.stopPropagation();
            k.search();
        }
    };
}
