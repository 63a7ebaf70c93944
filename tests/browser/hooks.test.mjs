// The client core (hooks/client.js) and the React hook (hooks/useHotReload.ts)
// against a real `qa-reload serve`: patches applied in place match what the
// API serves, a dropped connection resumes with `since` (missed events, not a
// snapshot; following a branch, from the commit held, on another follower),
// a restarted server is caught up from a snapshot, a hidden tab
// pauses, and the hook hands React the live state and the toast callbacks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import WebSocket from 'ws';

import { EXPLORATORY, REGRESSION, ROOT, Repo, SMOKE, WAIT, eventually, getJson, startFollower, startServer } from './helpers.mjs';

const core = await import(pathToFileURL(join(ROOT, 'hooks', 'client.js')).href);
const { applyJsonPatch, backoffDelay, createClient, PatchError, streamUrl } = core;

test('a reload keeps the identity of every entity its patches do not name, so memoised rows skip', () => {
  const { applyReload, applySnapshot, initialState } = core;
  const wf = (id, name) => ({ id, file: `workflows/${id}.yaml`, revision: 1, definition: { id, name, steps: [] }, step_integrations: [] });
  const snapshot = { type: 'snapshot', revision: 1, workflows: [wf('w10', 'Ten'), wf('w2', 'Two'), wf('w1', 'One')], integrations: [], errors: [], errors_total: 0, errors_truncated: false };
  const held = applySnapshot(initialState(), snapshot);
  assert.deepEqual(held.workflows.map((w) => w.id), ['w1', 'w10', 'w2']);
  const patch = (id, op, json_patch) => ({ kind: 'workflow', id, file: `workflows/${id}.yaml`, op, changes: [], json_patch, diff: { unified: '', hunks: [] } });
  const frame = {
    type: 'reload',
    revision: 2,
    base_revision: 1,
    patches: [
      patch('w2', 'modified', [{ op: 'replace', path: '/name', value: 'Two v2' }]),
      patch('w10', 'removed', [{ op: 'replace', path: '', value: null }]),
      patch('w3', 'added', [{ op: 'replace', path: '', value: { id: 'w3', name: 'Three', steps: [] } }]),
    ],
    errors: [],
    errors_total: 0,
    errors_truncated: false,
    files: ['workflows/w2.yaml', 'workflows/w10.yaml', 'workflows/w3.yaml'],
  };
  const next = applyReload(held, frame);
  assert.deepEqual(next.workflows.map((w) => [w.id, w.definition.name, w.revision]), [['w1', 'One', 1], ['w2', 'Two v2', 2], ['w3', 'Three', 2]]);
  assert.equal(next.workflows[0], held.workflows[0], 'w1 is the same object');
  assert.notEqual(next.workflows[1], held.workflows[2], 'w2 is a new object');
  assert.equal(held.workflows[2].definition.name, 'Two', 'the held state is untouched');
  // A resync snapshot equal to what is held keeps every object.
  const again = applySnapshot(held, structuredClone(snapshot));
  held.workflows.forEach((w, i) => assert.equal(again.workflows[i], w));
  // A patch that does not fit is refused whole.
  assert.throws(() => applyReload(held, { ...frame, patches: [patch('nope', 'modified', [])] }), core.PatchError);
});

/** A WebSocket class that records every URL it is asked to open. */
function recordingWebSocket() {
  const urls = [];
  class Recording extends WebSocket {
    constructor(url, ...rest) {
      super(url, ...rest);
      urls.push(url);
    }
  }
  return { Recording, urls };
}

/**
 * A client core started with `options` (the `ws` WebSocket and no document
 * unless they say otherwise). After test `t` it stops, then `cleanup` runs.
 */
function startClient(t, options, cleanup) {
  const client = createClient({ WebSocket, document: null, ...options });
  t.after(async () => {
    client.stop();
    await cleanup();
  });
  client.start();
  return client;
}

/**
 * A TCP relay in front of the server whose connections can be cut, and
 * restored to the same server or another one.
 */
async function relay(port) {
  let target = port;
  const sockets = new Set();
  let server;
  const listen = (at) =>
    new Promise((resolve) => {
      server = net.createServer((client) => {
        const upstream = net.connect(target, '127.0.0.1');
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {});
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(at, '127.0.0.1', () => resolve(server.address().port));
    });
  const own = await listen(0);
  return {
    url: `http://127.0.0.1:${own}`,
    async cut() {
      const closed = new Promise((r) => server.close(r));
      for (const s of sockets) s.destroy();
      await closed;
    },
    restore: (to = target) => {
      target = to;
      return listen(own);
    },
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test('a resume names the server run its revision came from', () => {
  const fresh = new URL(streamUrl('http://127.0.0.1:7878', null, null, 'abc'));
  assert.equal(fresh.protocol, 'ws:');
  assert.equal(fresh.search, '', 'nothing to resume: no since, no instance');
  const resume = new URL(streamUrl('https://qa.example:8443', 41, 't0k', 'abc'));
  assert.equal(resume.protocol, 'wss:');
  assert.equal(resume.searchParams.get('since'), '41');
  assert.equal(resume.searchParams.get('instance'), 'abc');
  assert.equal(resume.searchParams.get('token'), 't0k');
  const unknownRun = new URL(streamUrl('http://127.0.0.1:7878', 41, null, null));
  assert.equal(unknownRun.search, '', 'a revision without its run is not a resume');
  const commit = 'a'.repeat(40);
  const byCommit = new URL(streamUrl('http://127.0.0.1:7878', 41, null, 'abc', commit));
  assert.equal(byCommit.searchParams.get('since'), commit, 'a commit is resumed from on any server');
  assert.equal(byCommit.searchParams.get('instance'), null);
});

test('backoff grows from 0.5 s to 10 s with jitter', () => {
  assert.equal(backoffDelay(0, 0), 500);
  assert.equal(backoffDelay(0, 0.999), 500);
  assert.equal(backoffDelay(1, 0), 500);
  assert.equal(backoffDelay(1, 0.999), 1000);
  assert.equal(backoffDelay(3, 0.5), 3000);
  for (let attempt = 0; attempt < 20; attempt++) {
    for (const r of [0, 0.25, 0.5, 0.75, 0.999]) {
      const d = backoffDelay(attempt, r);
      assert.ok(d >= 500 && d <= 10_000, `attempt ${attempt}: ${d}`);
    }
  }
  assert.equal(backoffDelay(30, 1), 10_000);
  assert.notEqual(backoffDelay(6, 0.1), backoffDelay(6, 0.9), 'jitter spreads clients out');
});

test('JSON Patch applies RFC 6902 ops without touching the original and refuses misfits', () => {
  const doc = { steps: [{ id: 'a', m: 1 }, { id: 'b', m: 2 }], name: 'x' };
  const out = applyJsonPatch(doc, [
    { op: 'replace', path: '/steps/1/m', value: 3 },
    { op: 'add', path: '/steps/-', value: { id: 'c', m: 4 } },
    { op: 'move', from: '/steps/0', path: '/steps/2' },
    { op: 'remove', path: '/name' },
    { op: 'add', path: '/a~1b', value: true },
    { op: 'test', path: '/steps/0/id', value: 'b' },
  ]);
  assert.deepEqual(out, { steps: [{ id: 'b', m: 3 }, { id: 'c', m: 4 }, { id: 'a', m: 1 }], 'a/b': true });
  assert.deepEqual(doc, { steps: [{ id: 'a', m: 1 }, { id: 'b', m: 2 }], name: 'x' });
  assert.deepEqual(applyJsonPatch(null, [{ op: 'replace', path: '', value: { id: 'new' } }]), { id: 'new' });
  assert.throws(() => applyJsonPatch(doc, [{ op: 'remove', path: '/missing' }]), PatchError);
  assert.throws(() => applyJsonPatch(doc, [{ op: 'replace', path: '/steps/9/m', value: 1 }]), PatchError);
});

test('the core applies each reload in place, equal to what the API serves', { timeout: 30_000 }, async (t) => {
  const repo = new Repo();
  const server = await startServer(repo);
  const frames = [];
  const reloads = [];
  const onFrame = (f) => {
    if (f.type === 'reload') reloads.push(f);
    if (f.type !== 'integration_status') frames.push(f.type);
  };
  const client = startClient(t, { baseUrl: server.url, onFrame }, async () => {
    await server.stop();
    repo.remove();
  });
  await eventually(() => client.getState().status === 'open' && client.getState().revision === 1, WAIT, 'the first snapshot');
  assert.deepEqual(frames, ['hello', 'snapshot']);
  assert.deepEqual(client.getState().workflows.map((w) => w.id), ['regression', 'smoke']);

  repo.write('workflows/regression.yaml', REGRESSION.replace('estimated_minutes: 60', 'estimated_minutes: 90').replace('Run before every release', 'Run before each release'));
  repo.write('workflows/added.yaml', 'name: Added later\nsteps:\n  - id: one\n    name: One\n    estimated_minutes: 1\n');
  await eventually(() => client.getState().workflows.length === 3, WAIT, 'the added workflow');
  const state = client.getState();
  const served = await getJson(server.url, '/api/v1/workflows');
  assert.equal(state.revision, served.revision);
  assert.deepEqual(
    state.workflows.map((w) => [w.id, w.definition]),
    served.workflows.map((w) => [w.id, w.definition]).sort(),
  );
  assert.equal(state.lastEvent.type, 'reload');
  // Two files written back to back: one revision, or two if the writer was
  // paused past the save window; either way the edit came with its diff.
  const patches = reloads.flatMap((f) => f.patches);
  assert.ok(patches.some((p) => p.id === 'regression' && p.changes.length === 2), JSON.stringify(patches));

  repo.write('workflows/added.yaml', 'name: Added later\nsteps: [\n');
  await eventually(() => client.getState().errors.length === 1, WAIT, 'the error');
  assert.equal(client.getState().errors[0].file, 'workflows/added.yaml');
  assert.equal(client.getState().workflows.length, 3, 'the last good version stays');
  execFileSync('rm', [join(repo.dir, 'workflows/added.yaml')]);
  await eventually(() => client.getState().workflows.length === 2 && client.getState().errors.length === 0, WAIT, 'the removal');
});

test('every op sequence the server sends applies: id change, file move, remove-then-add', () => {
  const core0 = core.applySnapshot(core.initialState(), {
    revision: 1,
    workflows: [{ id: 'x', file: 'workflows/x.yaml', revision: 1, definition: { id: 'x', name: 'X' } }],
    integrations: [],
    errors: [],
    errors_total: 0,
    errors_truncated: false,
  });
  const frame = (revision, patches) => ({
    type: 'reload',
    revision,
    base_revision: revision - 1,
    patches,
    errors: [],
    errors_total: 0,
    errors_truncated: false,
    files: patches.map((p) => p.file),
  });
  const patch = (op, id, file, json_patch) => ({ kind: 'workflow', op, id, file, json_patch, changes: [] });
  // The file moved, text unchanged: modified, new file, no JSON Patch.
  let s = core.applyReload(core0, frame(2, [patch('modified', 'x', 'workflows/a/x.yaml', [])]));
  assert.deepEqual(s.workflows.map((w) => [w.id, w.file, w.definition.name]), [['x', 'workflows/a/x.yaml', 'X']]);
  // The id changed: removed + added.
  s = core.applyReload(s, frame(3, [
    patch('removed', 'x', 'workflows/a/x.yaml', [{ op: 'remove', path: '' }]),
    patch('added', 'y', 'workflows/a/x.yaml', [{ op: 'add', path: '', value: { id: 'y', name: 'X' } }]),
  ]));
  assert.deepEqual(s.workflows.map((w) => [w.id, w.definition.id]), [['y', 'y']]);
  // Removed and added again in one revision, and added before a removal.
  s = core.applyReload(s, frame(4, [
    patch('removed', 'y', 'workflows/a/x.yaml', [{ op: 'remove', path: '' }]),
    patch('added', 'y', 'workflows/b.yaml', [{ op: 'add', path: '', value: { id: 'y', name: 'B' } }]),
    patch('added', 'z', 'workflows/z.yaml', [{ op: 'add', path: '', value: { id: 'z', name: 'Z' } }]),
  ]));
  assert.deepEqual(s.workflows.map((w) => [w.id, w.file, w.definition.name]), [['y', 'workflows/b.yaml', 'B'], ['z', 'workflows/z.yaml', 'Z']]);
  assert.throws(() => core.applyReload(s, frame(5, [patch('modified', 'q', 'workflows/q.yaml', [])])), PatchError);
});

test('renames, id changes and moves between folders reach the client as the API serves them', { timeout: 30_000 }, async (t) => {
  const repo = new Repo();
  const server = await startServer(repo);
  const client = startClient(t, { baseUrl: server.url }, async () => {
    await server.stop();
    repo.remove();
  });
  await eventually(() => client.getState().status === 'open' && client.getState().revision === 1, WAIT, 'the first snapshot');
  const same = async (what) => {
    const served = await getJson(server.url, '/api/v1/workflows');
    await eventually(() => client.getState().revision === served.revision, WAIT, what);
    assert.deepEqual(
      client.getState().workflows.map((w) => [w.id, w.file, w.definition]),
      served.workflows.map((w) => [w.id, w.file, w.definition]).sort(),
      what,
    );
  };
  const revision = () => client.getState().revision;
  let r = revision();
  execFileSync('git', ['mv', 'workflows/smoke.yaml', 'workflows/a-smoke.yaml'], { cwd: repo.dir });
  await eventually(() => client.getState().workflows.some((w) => w.file === 'workflows/a-smoke.yaml'), WAIT, 'the rename');
  assert.ok(revision() > r);
  await same('a rename keeps the id');

  repo.write('workflows/a-smoke.yaml', repo.read('workflows/a-smoke.yaml').replace('id: smoke', 'id: smoke-2'));
  await eventually(() => client.getState().workflows.some((w) => w.id === 'smoke-2'), WAIT, 'the id change');
  await same('an id change');

  mkdirSync(join(repo.dir, 'workflows', 'deep', 'er'), { recursive: true });
  execFileSync('mv', ['workflows/a-smoke.yaml', 'workflows/deep/er/s.yaml'], { cwd: repo.dir });
  repo.write('workflows/deep/er/s.yaml', repo.read('workflows/deep/er/s.yaml').replace('id: smoke-2', 'id: smoke'));
  await eventually(() => client.getState().workflows.some((w) => w.file === 'workflows/deep/er/s.yaml' && w.id === 'smoke'), WAIT, 'the move');
  await same('a move into a new folder with an id change');
});

test('a dropped connection resumes with since=<last revision> and gets only the missed events', { timeout: 30_000 }, async (t) => {
  const repo = new Repo();
  const server = await startServer(repo);
  const proxy = await relay(server.port);
  const { Recording, urls } = recordingWebSocket();
  const frames = [];
  const statuses = [];
  const client = startClient(
    t,
    {
      baseUrl: proxy.url,
      WebSocket: Recording,
      onFrame: (f) => f.type !== 'integration_status' && frames.push(f.type),
      onStatus: (s) => statuses.push(s),
    },
    async () => {
      proxy.close();
      await server.stop();
      repo.remove();
    },
  );
  await eventually(() => client.getState().status === 'open', WAIT, 'open');
  repo.write('workflows/smoke.yaml', repo.read('workflows/smoke.yaml').replace('estimated_minutes: 5', 'estimated_minutes: 6'));
  await eventually(() => client.getState().revision === 2, WAIT, 'revision 2');

  await proxy.cut();
  await eventually(() => client.getState().status === 'reconnecting', WAIT, 'reconnecting');
  assert.ok(client.getState().disconnectedSince !== null);
  // Two revisions happen while the client is away.
  repo.write('workflows/smoke.yaml', repo.read('workflows/smoke.yaml').replace('estimated_minutes: 6', 'estimated_minutes: 7'));
  await eventually(async () => (await getJson(server.url, '/api/v1/dev/hot-reload/status')).revision === 3, WAIT, 'revision 3');
  repo.write('workflows/regression.yaml', REGRESSION.replace('Regression Suite', 'Regression Suite v2'));
  await eventually(async () => (await getJson(server.url, '/api/v1/dev/hot-reload/status')).revision === 4, WAIT, 'revision 4');
  frames.length = 0;
  await proxy.restore();

  await eventually(() => client.getState().revision === 4, WAIT, 'caught up to revision 4');
  assert.match(urls.at(-1), /[?&]since=2(&|$)/, urls.at(-1));
  assert.deepEqual(frames, ['hello', 'reload', 'reload'], 'resumed with the missed events, not a snapshot');
  const smoke = client.getState().workflows.find((w) => w.id === 'smoke');
  assert.equal(smoke.definition.steps[0].estimated_minutes, 7);
  assert.equal(client.getState().workflows.find((w) => w.id === 'regression').definition.name, 'Regression Suite v2');
  assert.equal(client.getState().attempt, 0);
  assert.ok(statuses.includes('reconnecting') && statuses.at(-1) === 'open', statuses.join());
});

test('following a branch, a dropped connection resumes with since=<commit> on another follower', { timeout: 60_000 }, async (t) => {
  const repo = new Repo();
  const first = repo.git('rev-parse', 'HEAD');
  const one = await startFollower(repo);
  const proxy = await relay(one.port);
  const { Recording, urls } = recordingWebSocket();
  const frames = [];
  let other = null;
  const client = startClient(
    t,
    { baseUrl: proxy.url, WebSocket: Recording, onFrame: (f) => f.type !== 'integration_status' && frames.push(f.type) },
    async () => {
      proxy.close();
      await one.stop();
      await other?.stop();
      repo.remove();
    },
  );
  await eventually(() => client.getState().commit === first, WAIT, 'the first commit held');

  // The branch moves on while the client is away; a second follower (its
  // own data folder, started after the move) is the one it reaches next.
  await proxy.cut();
  await eventually(() => client.getState().status === 'reconnecting', WAIT, 'reconnecting');
  repo.write('workflows/smoke.yaml', SMOKE.replace('estimated_minutes: 5', 'estimated_minutes: 9'));
  repo.write('workflows/exploratory.yaml', EXPLORATORY);
  repo.commitAll('smoke longer, exploratory added');
  const second = repo.git('rev-parse', 'HEAD');
  other = await startFollower(repo, ['--poll-interval', '1']);
  await eventually(async () => (await getJson(other.url, '/api/v1/dev/hot-reload/status')).commit === second, WAIT, 'the second follower serving');
  frames.length = 0;
  await proxy.restore(other.port);
  await eventually(() => client.getState().commit === second, WAIT, 'caught up on the second follower');
  const url = new URL(urls.at(-1));
  assert.equal(url.searchParams.get('since'), first, urls.at(-1));
  assert.equal(url.searchParams.get('instance'), null, 'a commit needs no instance');
  assert.deepEqual(frames, ['hello', 'reload'], 'resumed with the change from the commit held, not a snapshot');
  const served = await getJson(other.url, '/api/v1/workflows');
  const held = client.getState().workflows;
  assert.deepEqual(held.map((w) => [w.id, w.definition]), served.workflows.map((w) => [w.id, w.definition]));
  assert.equal(held.find((w) => w.id === 'smoke').definition.steps[0].estimated_minutes, 9);

  // Dropped again with nothing new: the hello alone, and the next commit
  // applies on top of it (the revision held is the server's own).
  await proxy.cut();
  await eventually(() => client.getState().status === 'reconnecting', WAIT, 'reconnecting again');
  frames.length = 0;
  await proxy.restore();
  await eventually(() => client.getState().status === 'open', WAIT, 'open again');
  assert.deepEqual(frames, ['hello']);
  repo.write('workflows/smoke.yaml', SMOKE.replace('estimated_minutes: 5', 'estimated_minutes: 11'));
  repo.commitAll('smoke longer still');
  const third = repo.git('rev-parse', 'HEAD');
  await eventually(() => client.getState().commit === third, WAIT, 'the third commit, by the poll');
  assert.deepEqual(frames, ['hello', 'reload'], 'the live reload applied without a resync');
  assert.equal(client.getState().workflows.find((w) => w.id === 'smoke').definition.steps[0].estimated_minutes, 11);
});

test('after a server restart the core resyncs from a snapshot', { timeout: 30_000 }, async (t) => {
  const repo = new Repo();
  let server = await startServer(repo);
  const frames = [];
  const client = startClient(t, { baseUrl: server.url, onFrame: (f) => f.type !== 'integration_status' && frames.push(f.type) }, async () => {
    await server.stop();
    repo.remove();
  });
  for (const minutes of [6, 7, 8]) {
    repo.write('workflows/smoke.yaml', repo.read('workflows/smoke.yaml').replace(/estimated_minutes: \d+/, `estimated_minutes: ${minutes}`));
    await eventually(() => client.getState().workflows.find((w) => w.id === 'smoke')?.definition.steps[0].estimated_minutes === minutes, WAIT, `${minutes}`);
  }
  assert.equal(client.getState().revision, 4);
  const port = server.port;
  await server.stop();
  repo.git('checkout', '-q', '--', 'workflows/smoke.yaml');
  frames.length = 0;
  server = await startServer(repo, `127.0.0.1:${port}`);
  await eventually(() => client.getState().revision === 1 && client.getState().status === 'open', WAIT, 'the new server');
  assert.deepEqual(frames, ['hello', 'snapshot']);
  assert.equal(client.getState().workflows.find((w) => w.id === 'smoke').definition.steps[0].estimated_minutes, 5);
});

test('a hidden tab pauses the connection and a visible one resumes it', { timeout: 30_000 }, async (t) => {
  const repo = new Repo();
  const server = await startServer(repo);
  const listeners = new Set();
  const doc = {
    visibilityState: 'visible',
    addEventListener: (_type, f) => listeners.add(f),
    removeEventListener: (_type, f) => listeners.delete(f),
  };
  const setVisibility = (v) => {
    doc.visibilityState = v;
    for (const f of listeners) f();
  };
  const { Recording, urls } = recordingWebSocket();
  const client = startClient(t, { baseUrl: server.url, WebSocket: Recording, document: doc }, async () => {
    await server.stop();
    repo.remove();
  });
  const clients = async () => (await getJson(server.url, '/api/v1/dev/hot-reload/status')).websocket_clients;
  await eventually(() => client.getState().status === 'open', WAIT, 'open');
  await eventually(async () => (await clients()) === 1, WAIT, 'one client');
  setVisibility('hidden');
  assert.equal(client.getState().status, 'paused');
  await eventually(async () => (await clients()) === 0, WAIT, 'the socket closed while hidden');
  repo.write('workflows/smoke.yaml', repo.read('workflows/smoke.yaml').replace('estimated_minutes: 5', 'estimated_minutes: 9'));
  await eventually(async () => (await getJson(server.url, '/api/v1/dev/hot-reload/status')).revision === 2, WAIT, 'revision 2');
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(urls.length, 1, 'no reconnect attempt while hidden');
  setVisibility('visible');
  await eventually(() => client.getState().revision === 2, WAIT, 'caught up when visible');
  assert.match(urls.at(-1), /since=1/);
});

// ---- the React hook -------------------------------------------------------

async function loadHook() {
  const esbuild = await import('esbuild');
  const { readFileSync } = await import('node:fs');
  const source = readFileSync(join(ROOT, 'hooks', 'useHotReload.ts'), 'utf8');
  const { code } = esbuild.transformSync(source, { loader: 'ts', format: 'esm', target: 'es2022' });
  const coreUrl = pathToFileURL(join(ROOT, 'hooks', 'client.js')).href;
  assert.ok(code.includes('"./client.js"'), 'the hook imports the shared core');
  const dir = join(ROOT, 'tests', 'browser', '.build');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'useHotReload.mjs');
  writeFileSync(file, code.replace('"./client.js"', JSON.stringify(coreUrl)));
  return import(pathToFileURL(file).href);
}

/**
 * React, its test renderer and the hook, with a fresh `Repo` served for
 * test `t`. `rendered(check, what)` lets React render until `check()`
 * holds; `clients()` counts the server's sockets.
 */
async function reactOnServer(t) {
  const require = createRequire(import.meta.url);
  const React = require('react');
  const { act, create } = require('react-test-renderer');
  globalThis.IS_REACT_ACT_ENVIRONMENT = true;
  const { useHotReload } = await loadHook();
  const repo = new Repo();
  const server = await startServer(repo);
  t.after(async () => {
    await server.stop();
    repo.remove();
  });
  const rendered = (check, what) =>
    eventually(async () => {
      await act(async () => {
        await new Promise((r) => setTimeout(r, 20));
      });
      return check();
    }, WAIT, what);
  const clients = async () => (await getJson(server.url, '/api/v1/dev/hot-reload/status')).websocket_clients;
  return { React, act, create, useHotReload, repo, server, rendered, clients };
}

test('useHotReload gives React the live state and calls back for toasts', { timeout: 30_000 }, async (t) => {
  const { React, act, create, useHotReload, repo, server, rendered: waitFor, clients } = await reactOnServer(t);
  const seen = { reloads: [], errors: [], fixed: [], renders: 0, latest: null };
  function Probe() {
    const live = useHotReload({
      baseUrl: server.url,
      client: { WebSocket, document: null },
      onReload: (frame) => seen.reloads.push(frame.summary),
      onError: (errors) => seen.errors.push(...errors),
      onFixed: (files) => seen.fixed.push(...files),
    });
    seen.renders += 1;
    seen.latest = live;
    return React.createElement('ul', null, live.workflows.map((w) => React.createElement('li', { key: w.id }, `${w.definition.name}: ${w.definition.steps.length} steps`)));
  }
  let renderer;
  await act(async () => {
    renderer = create(React.createElement(Probe));
  });
  await waitFor(() => seen.latest.status === 'open' && seen.latest.revision === 1, 'open');
  assert.deepEqual(Object.keys(seen.latest).sort(), ['errors', 'integrations', 'lastEvent', 'revision', 'status', 'workflows']);
  assert.deepEqual(renderer.toJSON().children.map((li) => li.children.join('')), ['Regression Suite: 2 steps', 'Release Smoke: 1 steps']);
  assert.deepEqual(seen.latest.integrations.map((i) => [i.id, i.enabled]), [['jira', false]]);
  assert.equal(seen.latest.lastEvent, null);

  repo.write('workflows/smoke.yaml', repo.read('workflows/smoke.yaml') + '  - id: logout\n    name: Log out\n    estimated_minutes: 2\n');
  await waitFor(() => seen.latest.revision === 2, 'the reload');
  assert.deepEqual(seen.reloads, ['smoke: 1 change']);
  assert.equal(seen.latest.lastEvent.summary, 'smoke: 1 change');
  assert.equal(renderer.toJSON().children[1].children.join(''), 'Release Smoke: 2 steps');

  repo.write('workflows/smoke.yaml', 'id: smoke\nname: Release Smoke\nsteps:\n  - id: login\n    name: Log in\n   estimated_minutes: 5\n');
  await waitFor(() => seen.errors.length === 1, 'the error callback');
  assert.equal(seen.errors[0].file, 'workflows/smoke.yaml');
  assert.equal(seen.errors[0].line, 6);
  assert.equal(seen.latest.errors.length, 1);
  assert.equal(renderer.toJSON().children[1].children.join(''), 'Release Smoke: 2 steps', 'the last good version stays');

  repo.write('workflows/smoke.yaml', 'id: smoke\nname: Release Smoke\nsteps:\n  - id: login\n    name: Log in\n    estimated_minutes: 5\n');
  await waitFor(() => seen.fixed.length === 1, 'the fixed callback');
  assert.deepEqual(seen.fixed, ['workflows/smoke.yaml']);
  assert.deepEqual(seen.latest.errors, []);

  assert.equal(await clients(), 1, 'one socket however often it rendered');
  assert.ok(seen.renders > 3);
  await act(async () => renderer.unmount());
  await eventually(async () => (await clients()) === 0, WAIT, 'the socket closed on unmount');
});

test('useHotReload shows the idle state while disabled, not the stopped client\'s last state', { timeout: 30_000 }, async (t) => {
  const { React, act, create, useHotReload, server, rendered, clients } = await reactOnServer(t);
  const seen = { renders: [] };
  function Probe({ enabled }) {
    const live = useHotReload({ baseUrl: server.url, enabled, client: { WebSocket, document: null } });
    seen.renders.push({ enabled, status: live.status, revision: live.revision, workflows: live.workflows.length });
    return null;
  }
  const settle = (check, what) => rendered(() => check(seen.renders.at(-1)), what);
  let renderer;
  await act(async () => {
    renderer = create(React.createElement(Probe, { enabled: true }));
  });
  await settle((r) => r.status === 'open' && r.revision === 1 && r.workflows === 2, 'open with the workflows');

  const from = seen.renders.length;
  await act(async () => renderer.update(React.createElement(Probe, { enabled: false })));
  await settle((r) => !r.enabled, 'a disabled render');
  const disabled = seen.renders.slice(from).filter((r) => !r.enabled);
  assert.ok(disabled.length > 0);
  for (const r of disabled) {
    assert.deepEqual(r, { enabled: false, status: 'idle', revision: null, workflows: 0 }, 'every render while disabled is idle');
  }
  await eventually(async () => (await clients()) === 0, WAIT, 'the socket closed while disabled');

  await act(async () => renderer.update(React.createElement(Probe, { enabled: true })));
  await settle((r) => r.status === 'open' && r.revision === 1 && r.workflows === 2, 'open again once enabled');
  await act(async () => renderer.unmount());
});

test('the hook and the frame types type-check', { timeout: 60_000 }, () => {
  const tsc = join(ROOT, 'tests', 'browser', 'node_modules', 'typescript', 'bin', 'tsc');
  try {
    execFileSync(process.execPath, [tsc, '--noEmit', '-p', join(ROOT, 'tests', 'browser', 'tsconfig.json')], { encoding: 'utf8' });
  } catch (e) {
    assert.fail(`tsc found errors:\n${e.stdout}${e.stderr}`);
  }
});

test('client.js and json_patch.js type-check, and their .d.ts are what their JSDoc declares', { timeout: 60_000 }, async () => {
  const { generate, stale } = await import('./declarations.mjs');
  const { errors, files } = generate();
  assert.deepEqual(errors, [], `tsc --checkJs found errors in hooks/:\n${errors.join('\n')}`);
  assert.deepEqual(Object.keys(files).sort(), ['client.d.ts', 'json_patch.d.ts']);
  assert.deepEqual(stale(files), [], 'the committed declarations differ from the JSDoc; run scripts/gen-client-types and commit them');
});
