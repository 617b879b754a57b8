// Builds the page into dist/: content-hashed JS and CSS bundles (esbuild), the files of
// public/ as they are, and dist/index.html that references the hashed names. The server
// serves dist/ at `/` and gives hashed names a long cache lifetime, so the only file a
// browser revalidates on each visit is index.html.
//
// Text assets are also written pre-compressed (name.br, name.gz; only when smaller) for the
// server to send to browsers that take them (src/api/web.c): compressing once at build time
// costs nothing per request and allows the strongest settings.
//
//   node build.mjs            production build (minified)
//   node build.mjs --dev      unminified, with inline source maps
import * as esbuild from 'esbuild';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { brotliCompressSync, constants as zlibConstants, gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const out = join(root, 'dist');
const dev = process.argv.includes('--dev');

// dist/ is kept, not replaced: a running server holds the directory open. New assets are
// written first, index.html last (atomically), and only then are the old assets removed,
// so a running server never hands out a page whose assets are missing.
mkdirSync(out, { recursive: true });
const stale = new Set(readdirSync(out));

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

// The entry's JS and CSS, and every chunk it can load (statically, or the pages it imports
// on demand) except the terminal's: those are preloaded so they download in parallel.
const outputs = result.metafile.outputs;
let js = '';
let css = '';
for (const [file, meta] of Object.entries(outputs)) {
    if (meta.entryPoint === 'src/main.ts') {
        js = file;
        if (meta.cssBundle) css = basename(meta.cssBundle);
    }
}
if (!js || !css) throw new Error('build: entry bundle or its CSS is missing');
const preload = [];
const seen = new Set([js]);
const walk = (file) => {
    for (const imp of outputs[file]?.imports ?? []) {
        if (imp.external || seen.has(imp.path) || !imp.path.endsWith('.js')) continue;
        if (outputs[imp.path]?.entryPoint === 'src/ide/terminal.ts') continue;
        seen.add(imp.path);
        preload.push(basename(imp.path));
        walk(imp.path);
    }
};
walk(js);
js = basename(js);

if (existsSync(join(root, 'public'))) cpSync(join(root, 'public'), out, { recursive: true });

const tags = [
    `<link rel="stylesheet" href="/${css}">`,
    ...preload.map((p) => `<link rel="modulepreload" href="/${p}">`),
    `<script type="module" src="/${js}"></script>`,
].join('\n    ');
const html = readFileSync(join(root, 'index.html'), 'utf8').replace('<!-- assets -->', tags);
const fresh = new Set(['index.html', ...Object.keys(result.metafile.outputs).map((f) => basename(f)), ...(existsSync(join(root, 'public')) ? readdirSync(join(root, 'public')) : [])]);

/** Writes name.br and name.gz next to name (text types, when smaller); after the file
 *  itself, so the server (which skips siblings older than the file) never serves a stale one. */
const COMPRESSIBLE = /\.(html|js|css|svg|json|map|txt)$/;
const compress = (name) => {
    if (dev || !COMPRESSIBLE.test(name)) return;
    const body = readFileSync(join(out, name));
    const variants = [
        ['.br', brotliCompressSync(body, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: body.length } })],
        ['.gz', gzipSync(body, { level: 9 })],
    ];
    for (const [ext, data] of variants) {
        if (data.length >= body.length) continue;
        writeFileSync(join(out, `${name}${ext}.tmp`), data);
        renameSync(join(out, `${name}${ext}.tmp`), join(out, `${name}${ext}`));
        fresh.add(`${name}${ext}`);
    }
};
for (const name of fresh) if (name !== 'index.html' && existsSync(join(out, name))) compress(name);
writeFileSync(join(out, 'index.html.tmp'), html);
renameSync(join(out, 'index.html.tmp'), join(out, 'index.html'));
compress('index.html');
for (const name of stale) if (!fresh.has(name)) rmSync(join(out, name), { recursive: true, force: true });

if (!process.argv.includes('--quiet')) {
    const sizes = Object.entries(result.metafile.outputs)
        .map(([f, m]) => `${basename(f)} ${(m.bytes / 1024).toFixed(1)} KiB`)
        .join(', ');
    console.log(`web: built dist/ (${sizes})`);
}
