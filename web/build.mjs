// Builds the page into dist/: content-hashed JS and CSS bundles (esbuild), the files of
// public/ as they are, and dist/index.html that references the hashed names. The server
// serves dist/ at `/` and gives hashed names a long cache lifetime, so the only file a
// browser revalidates on each visit is index.html.
//
//   node build.mjs            production build (minified)
//   node build.mjs --dev      unminified, with inline source maps
import * as esbuild from 'esbuild';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const out = join(root, 'dist');
const dev = process.argv.includes('--dev');

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: ['src/main.ts'],
    bundle: true,
    splitting: true, // the terminal (xterm.js) loads only when a terminal is opened
    format: 'esm',
    target: ['es2022', 'chrome110', 'firefox115', 'safari16'],
    outdir: out,
    entryNames: '[name]-[hash]',
    chunkNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    minify: !dev,
    sourcemap: dev ? 'inline' : false,
    legalComments: 'none',
    metafile: true,
    logLevel: 'warning',
});

// The entry's JS and CSS, and the chunks it imports statically (preloaded in parallel).
let js = '';
let css = '';
const preload = [];
for (const [file, meta] of Object.entries(result.metafile.outputs)) {
    if (meta.entryPoint === 'src/main.ts') {
        js = basename(file);
        if (meta.cssBundle) css = basename(meta.cssBundle);
        for (const imp of meta.imports) {
            if (imp.kind === 'import-statement') preload.push(basename(imp.path));
        }
    }
}
if (!js || !css) throw new Error('build: entry bundle or its CSS is missing');

if (existsSync(join(root, 'public'))) cpSync(join(root, 'public'), out, { recursive: true });

const tags = [
    `<link rel="stylesheet" href="/${css}">`,
    ...preload.map((p) => `<link rel="modulepreload" href="/${p}">`),
    `<script type="module" src="/${js}"></script>`,
].join('\n    ');
const html = readFileSync(join(root, 'index.html'), 'utf8').replace('<!-- assets -->', tags);
writeFileSync(join(out, 'index.html'), html);

if (!process.argv.includes('--quiet')) {
    const sizes = Object.entries(result.metafile.outputs)
        .map(([f, m]) => `${basename(f)} ${(m.bytes / 1024).toFixed(1)} KiB`)
        .join(', ');
    console.log(`web: built dist/ (${sizes})`);
}
