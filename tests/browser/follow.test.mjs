// End to end in a real browser (Debian's Chromium through playwright-core):
// the page of `qa-reload serve --follow` on a local bare remote names, on
// each workflow's row, who last changed it; after a push by another author
// and a webhook, the changed row names her and her commit while the
// untouched row keeps naming its own earlier commit, without a reload.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { OUTPUT, REGRESSION, Repo, WAIT, browse, eventually, serve } from './helpers.mjs';
const SECRET = 'follow-page-webhook-secret';

test('the row of a workflow shows who last changed it, and a push moves it to its author', { timeout: 60_000 }, async (t) => {
  mkdirSync(OUTPUT, { recursive: true });
  const repo = new Repo();
  const remote = mkdtempSync(join(tmpdir(), 'qa-reload-remote-'));
  repo.git('init', '-q', '--bare', '-b', 'main', remote);
  const first = repo.git('rev-parse', 'main');
  repo.write('workflows/regression.yaml', REGRESSION.replace('estimated_minutes: 60', 'estimated_minutes: 65'));
  repo.commitAll('regression: longer full pack');
  const second = repo.git('rev-parse', 'HEAD');
  repo.git('push', '-q', remote, 'main');
  const data = mkdtempSync(join(tmpdir(), 'qa-reload-data-'));
  const server = await serve(['--bind', '127.0.0.1:0', '--poll-interval', '3600', '--follow', remote, '--data-dir', data], {
    QA_RELOAD_WEBHOOK_SECRET: SECRET,
  });
  const { page, seen } = await browse(t, server, async () => {
    await server.stop();
    repo.remove();
    rmSync(remote, { recursive: true, force: true });
    rmSync(data, { recursive: true, force: true });
  });
  const smoke = page.locator('article.workflow[data-id="smoke"] .changed-by');
  const regression = page.locator('article.workflow[data-id="regression"] .changed-by');
  await smoke.waitFor();
  // At start each row names the commit that last changed its file, found
  // in the branch's history: not the head for the untouched smoke file.
  assert.equal(await smoke.textContent(), `QA Tester · ${first.slice(0, 7)}`);
  assert.equal(await regression.textContent(), `QA Tester · ${second.slice(0, 7)}`);
  assert.match(await regression.getAttribute('title'), /regression: longer full pack/);

  // Ann changes the smoke workflow and pushes; a webhook asks for a fetch.
  const smokeText = repo.read('workflows/smoke.yaml');
  repo.write('workflows/smoke.yaml', smokeText.replace('estimated_minutes: 5', 'estimated_minutes: 8'));
  repo.git('add', '-A');
  repo.git('commit', '-q', '--author', 'Ann Author <ann@example.com>', '--date', '2026-03-04T05:06:07Z', '-m', 'smoke: give the check more time');
  const ann = repo.git('rev-parse', 'HEAD');
  repo.git('push', '-q', remote, 'main');
  const hook = await fetch(`${server.url}/api/v1/hooks/git`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'X-Gitlab-Token': SECRET, 'X-Gitlab-Event': 'Push Hook', 'X-Gitlab-Event-UUID': 'page-1' },
    body: '{}',
  });
  assert.equal(hook.status, 202);

  await eventually(async () => (await smoke.textContent()) === `Ann Author · ${ann.slice(0, 7)}`, WAIT, 'the smoke row naming Ann');
  const title = await smoke.getAttribute('title');
  assert.match(title, /Ann Author <ann@example\.com>/);
  assert.ok(title.includes(ann), title);
  assert.match(title, /smoke: give the check more time/);
  assert.equal(await regression.textContent(), `QA Tester · ${second.slice(0, 7)}`, 'the untouched row keeps its own commit');
  await page.screenshot({ path: join(OUTPUT, 'follow-changed-by.png') });
  assert.equal(seen.navigations, 1, 'the page was never reloaded');
  assert.deepEqual(seen.errors, []);
});
