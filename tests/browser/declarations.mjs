// The declarations of the client core, generated from its JSDoc types:
// `hooks/client.d.ts` and `hooks/json_patch.d.ts` are what `tsc` declares
// for `hooks/client.js` and `hooks/json_patch.js` (checked with `checkJs`
// and `strict`), so the types a TypeScript app sees cannot drift from the
// code the page runs. `hooks.test.mjs` fails when the committed files differ
// or the JavaScript does not type-check; `scripts/gen-client-types` runs
// this file with `--write` to write them anew.

import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';

export const HOOKS = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'hooks');

/** The JavaScript modules whose declarations are generated (`x.js` → `x.d.ts`). */
export const SOURCES = ['client.js', 'json_patch.js'];

const HEADER = `\
// Generated from the JSDoc types of hooks/%s by \`scripts/gen-client-types\`
// (tsc --declaration); do not edit by hand: a test fails when it differs.
`;

/** What `client.d.ts` adds to its JavaScript: the frame types, so one import serves both. */
const TRAILERS = { 'client.js': "\nexport type * from './frames';\n" };

const OPTIONS = {
  allowJs: true,
  checkJs: true,
  strict: true,
  declaration: true,
  emitDeclarationOnly: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ESNext,
  moduleResolution: ts.ModuleResolutionKind.Bundler,
  lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
  types: [],
  rootDir: HOOKS,
  // Never written: the emit below hands the text back instead.
  outDir: join(HOOKS, '.declarations'),
  newLine: ts.NewLineKind.LineFeed,
};

/**
 * Type-checks the sources and declares them: `{ errors, files }`, where
 * `errors` are tsc's messages (`file:line:column message`) and `files` maps
 * each `x.d.ts` name to its generated text. The committed declarations are
 * hidden from the compiler, so the JavaScript is what it reads.
 */
export function generate() {
  const host = ts.createCompilerHost(OPTIONS);
  const declared = new Set(SOURCES.map((s) => join(HOOKS, s.replace(/\.js$/, '.d.ts'))));
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => !declared.has(resolve(name)) && fileExists(name);
  const program = ts.createProgram(SOURCES.map((s) => join(HOOKS, s)), OPTIONS, host);
  const errors = ts.getPreEmitDiagnostics(program).map((d) => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return text;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${d.file.fileName}:${line + 1}:${character + 1} ${text}`;
  });
  /** @type {Record<string, string>} */
  const files = {};
  program.emit(undefined, (name, text) => {
    const source = basename(name).replace(/\.d\.ts$/, '.js');
    if (!SOURCES.includes(source)) return;
    files[basename(name)] = HEADER.replace('%s', source) + text + (TRAILERS[source] ?? '');
  });
  return { errors, files };
}

/** The names of the committed declarations that differ from `files`. */
export function stale(files) {
  return Object.entries(files)
    .filter(([name, text]) => {
      try {
        return readFileSync(join(HOOKS, name), 'utf8') !== text;
      } catch {
        return true;
      }
    })
    .map(([name]) => name);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { errors, files } = generate();
  if (errors.length > 0) {
    console.error(`hooks/ does not type-check:\n${errors.join('\n')}`);
    process.exit(1);
  }
  if (process.argv.includes('--write')) {
    for (const [name, text] of Object.entries(files)) writeFileSync(join(HOOKS, name), text);
    console.log(`wrote ${Object.keys(files).map((n) => `hooks/${n}`).join(', ')}`);
  } else {
    const names = stale(files);
    if (names.length > 0) {
      console.error(`out of date: ${names.join(', ')}; run scripts/gen-client-types`);
      process.exit(1);
    }
  }
}
