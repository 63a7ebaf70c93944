// The generated JSON Schemas in the YAML language server (the one VS Code's
// YAML extension runs), configured as the example's .vscode/settings.json
// configures it: the example's files are clean, a wrong value or key is
// underlined at its position while the text is unsaved, hovers show the
// schema's descriptions, and the modeline the README shows works alone.
//
// QA_RELOAD_REPO is the repository root (set by tests/it/editor.rs).

import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { TextDocument } from 'vscode-languageserver-textdocument';
import yls from 'yaml-language-server';

const repo = process.env.QA_RELOAD_REPO ?? path.resolve(import.meta.dirname, '../..');
const url = (rel) => pathToFileURL(path.join(repo, rel)).href.replaceAll('%2A', '*');

function languageService(schemas) {
  const ls = yls.getLanguageService({
    schemaRequestService: async (uri) => readFileSync(fileURLToPath(uri), 'utf8'),
    workspaceContext: { resolveRelativePath: (rel, resource) => new URL(rel, resource).href },
  });
  ls.configure({ validate: true, hover: true, completion: true, yamlVersion: '1.2', schemas });
  return ls;
}

/// The mapping of .vscode/settings.json, resolved against the repository
/// root as VS Code resolves workspace-relative paths.
function vscodeMapping() {
  const settings = JSON.parse(readFileSync(path.join(repo, '.vscode/settings.json'), 'utf8'));
  return Object.entries(settings['yaml.schemas']).map(([schema, globs]) => ({
    uri: url(schema),
    fileMatch: globs.map(url),
  }));
}

// The language server caches parsed documents by URI and version across
// service instances: every document gets a version of its own.
let version = 0;
const doc = (rel, text) => TextDocument.create(url(rel), 'yaml', ++version, text);
const read = (rel) => readFileSync(path.join(repo, rel), 'utf8');

/// Where `needle` starts in `text`, as an LSP position (0-based).
function positionOf(text, needle, offset = 0) {
  const at = text.indexOf(needle) + offset;
  assert.ok(at >= offset, `${needle} not found`);
  const before = text.slice(0, at).split('\n');
  return { line: before.length - 1, character: before.at(-1).length };
}

const exampleFiles = () => [
  ...readdirSync(path.join(repo, 'workflows')).map((f) => `workflows/${f}`),
  ...readdirSync(path.join(repo, 'config')).map((f) => `config/${f}`),
];

test('the example files have no diagnostics', async () => {
  const ls = languageService(vscodeMapping());
  const files = exampleFiles();
  assert.ok(files.length >= 9, files.join(', '));
  for (const rel of files) {
    const diagnostics = await ls.doValidation(doc(rel, read(rel)), false);
    assert.deepEqual(diagnostics, [], rel);
  }
});

test('a wrong estimated_minutes is underlined before saving', async () => {
  const ls = languageService(vscodeMapping());
  const rel = 'workflows/regression.yaml';
  const text = read(rel).replace('estimated_minutes: 30', 'estimated_minutes: 5000');
  const diagnostics = await ls.doValidation(doc(rel, text), false);
  assert.equal(diagnostics.length, 1, JSON.stringify(diagnostics));
  const [d] = diagnostics;
  assert.deepEqual(d.range.start, positionOf(text, '5000'));
  assert.deepEqual(d.range.end, positionOf(text, '5000', 4));
  assert.match(d.message, /maximum/i);
  assert.ok(d.data.schemaUri.includes(url('schemas/workflow.schema.json')));
});

test('unknown keys, wrong types and bad ids are underlined at their place', async () => {
  const ls = languageService(vscodeMapping());
  const cases = [
    ['workflows/regression.yaml', (t) => t.replace('ticket_types:', 'ticket_typos:'), 'ticket_typos'],
    ['workflows/regression.yaml', (t) => t.replace('id: create-run', 'id: Create_Run'), 'Create_Run'],
    ['workflows/regression.yaml', (t) => t.replace('estimated_minutes: 10', "estimated_minutes: '10'"), "'10'"],
    ['config/jira_config.yaml', (t) => t.replace('timeout_ms: 5000', 'timeout_ms: 0'), 'timeout_ms: 0'],
    ['config/hot_reload.yaml', (t) => t.replace('debounce_ms: 50', 'debounce_ms: -1'), '-1'],
    ['config/testmo_config.yaml', (t) => t.replace('enabled: false', 'enabled: no'), 'no\n'],
  ];
  for (const [rel, edit, needle] of cases) {
    const text = edit(read(rel));
    assert.notEqual(text, read(rel), `${rel}: the edit for ${needle} changed nothing`);
    const diagnostics = await ls.doValidation(doc(rel, text), false);
    assert.ok(diagnostics.length >= 1, `${rel}: nothing for ${needle}`);
    const at = positionOf(text, needle.trim());
    assert.ok(
      diagnostics.some((d) => d.range.start.line === at.line),
      `${rel}: ${needle} not underlined on line ${at.line + 1}: ${JSON.stringify(diagnostics)}`,
    );
  }
});

test('hovers show the descriptions of the schema', async () => {
  const ls = languageService(vscodeMapping());
  const rel = 'workflows/regression.yaml';
  const text = read(rel);
  const hover = await ls.doHover(doc(rel, text), positionOf(text, 'estimated_minutes', 3));
  // Markdown, with its punctuation escaped.
  const shown = hover?.contents?.value ?? '';
  assert.match(shown, /How long the step usually takes, in minutes \\?\(1 to 1440\\?\)/, shown);
});

test('the README modeline works without any mapping', async () => {
  const ls = languageService([]);
  const rel = 'workflows/team/modeline.yaml';
  const text =
    '# yaml-language-server: $schema=../../schemas/workflow.schema.json\n' +
    'name: M\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: 0\n';
  const diagnostics = await ls.doValidation(doc(rel, text), false);
  assert.equal(diagnostics.length, 1, JSON.stringify(diagnostics));
  assert.deepEqual(diagnostics[0].range.start, positionOf(text, '0\n'));
});
