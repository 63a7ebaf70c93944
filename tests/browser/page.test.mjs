// End to end in a real browser (Debian's Chromium through playwright-core):
// the page served by `qa-reload serve` on a temp git repo changes in place
// after edits, a broken file, its fix, a branch switch and a server restart
// (and, following a branch, names the commit it holds),
// and is never reloaded. A screenshot of each state is saved under
// target/browser-test-output/.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';

import { OUTPUT, REGRESSION, Repo, SMOKE, WAIT, browse, eventually, startFollower, startServer, untilLive } from './helpers.mjs';

test('the page follows edits, errors, fixes, a branch switch and a restart without reloading', { timeout: 120_000 }, async (t) => {
  mkdirSync(OUTPUT, { recursive: true });
  const shot = (page, name) => page.screenshot({ path: join(OUTPUT, `${name}.png`), fullPage: false });
  const repo = new Repo();
  let server = await startServer(repo);
  const { page, seen } = await browse(t, server, async () => {
    await server.stop();
    repo.remove();
  });
  const pill = page.locator('#connection');
  await untilLive(page);
  const regression = page.locator('article.workflow[data-id="regression"]');
  await regression.waitFor();
  assert.equal(await page.locator('#branch').textContent(), 'main');
  assert.equal(await regression.locator('[data-step="full"] .minutes').textContent(), '60 min');
  assert.equal(await page.locator('article.workflow').count(), 2);
  await eventually(async () => (await page.locator('#repo').textContent()) === repo.dir, WAIT, 'the repository path in the header');
  // A marker on `window` survives only as long as the page is never reloaded.
  await page.evaluate(() => {
    window.__qaMarker = 'still here';
  });
  await shot(page, '01-loaded');

  // 1. Edit a workflow: a toast names it within 1 s; its diff highlights the changed line.
  const toasts = page.locator('#toasts > .toast');
  const started = Date.now();
  repo.write('workflows/regression.yaml', REGRESSION.replace('estimated_minutes: 60', 'estimated_minutes: 75'));
  const editToast = toasts.filter({ hasText: 'regression: 1 change' });
  await editToast.waitFor({ timeout: WAIT });
  const elapsed = Date.now() - started;
  assert.ok(elapsed < 1000, `toast after ${elapsed} ms`);
  assert.equal(await editToast.getAttribute('role'), 'status');
  assert.match(await editToast.locator('.toast-title').textContent(), /^regression: 1 change · rev \d+$/);
  assert.equal(await regression.locator('[data-step="full"] .minutes').textContent(), '75 min');
  assert.match(await regression.locator('[data-step="full"]').getAttribute('class'), /changed/);
  await editToast.locator('button.expand').click();
  assert.equal(await editToast.locator('button.expand').getAttribute('aria-expanded'), 'true');
  assert.equal(await editToast.locator('.changes code.path').first().textContent(), 'steps[id=full].estimated_minutes');
  const inserted = editToast.locator('table.diff tr.insert');
  const deleted = editToast.locator('table.diff tr.delete');
  assert.equal(await inserted.count(), 1);
  assert.equal(await deleted.count(), 1);
  const lineOf75 = repo.read('workflows/regression.yaml').split('\n').indexOf('    estimated_minutes: 75') + 1;
  assert.equal(await inserted.locator('td.new').textContent(), String(lineOf75));
  assert.equal(await inserted.locator('td.text').textContent(), '    estimated_minutes: 75');
  assert.equal(await deleted.locator('td.old').textContent(), String(lineOf75));
  assert.equal(await deleted.locator('td.text').textContent(), '    estimated_minutes: 60');
  // The highlight is visible: added and removed lines have different backgrounds from context lines.
  const bg = (loc) => loc.evaluate((n) => getComputedStyle(n).backgroundColor);
  const context0 = editToast.locator('table.diff tr.equal').first();
  assert.notEqual(await bg(inserted), await bg(context0));
  assert.notEqual(await bg(deleted), await bg(context0));
  assert.notEqual(await bg(inserted), await bg(deleted));
  await shot(page, '02-edit-diff-toast');
  assert.equal(await page.evaluate(() => window.__qaMarker), 'still here');

  // Escape dismisses toasts, newest first.
  while ((await toasts.count()) > 0) await page.keyboard.press('Escape');

  // 2. Invalid YAML: an error toast with file:line:col and the message; the last good version stays.
  const broken = REGRESSION.replace('estimated_minutes: 60', 'estimated_minutes: 80').replace('    estimated_minutes: 80', '   estimated_minutes: 80');
  const badLine = broken.split('\n').indexOf('   estimated_minutes: 80') + 1;
  repo.write('workflows/regression.yaml', broken);
  const errorToast = toasts.filter({ hasText: 'workflows/regression.yaml: 1 error' });
  await errorToast.waitFor({ timeout: WAIT });
  assert.equal(await errorToast.getAttribute('role'), 'alert');
  assert.equal(await errorToast.locator('code.pos').textContent(), `workflows/regression.yaml:${badLine}:4`);
  assert.match(await errorToast.locator('p.message').textContent(), /invalid YAML/);
  assert.equal(await errorToast.locator('pre.excerpt code').textContent(), '   estimated_minutes: 80', 'the offending line');
  assert.equal(await errorToast.locator('pre.excerpt .ln').textContent(), String(badLine).padStart(4));
  assert.equal(await page.locator('#errors li').count(), 1);
  assert.match(await page.locator('#errors li').textContent(), new RegExp(`workflows/regression.yaml:${badLine}:4`));
  assert.equal(await regression.locator('[data-step="full"] .minutes').textContent(), '75 min', 'the last good version stays');
  await shot(page, '03-error-toast');

  // 3. Fix it: a success toast, the error toast and the error list clear, the new value shows.
  repo.write('workflows/regression.yaml', REGRESSION.replace('estimated_minutes: 60', 'estimated_minutes: 80'));
  const fixedToast = toasts.filter({ hasText: 'fixed: workflows/regression.yaml' });
  await fixedToast.waitFor({ timeout: WAIT });
  assert.equal(await fixedToast.getAttribute('role'), 'status');
  assert.match(await fixedToast.getAttribute('class'), /\bok\b/);
  await errorToast.waitFor({ state: 'detached', timeout: WAIT });
  assert.equal(await page.locator('#errors li').count(), 0);
  assert.equal(await regression.locator('[data-step="full"] .minutes').textContent(), '80 min');
  await shot(page, '04-fixed-toast');

  // 4. Commit, then switch branch: exactly one toast, naming the branch.
  repo.commitAll('full pack takes 80 minutes');
  await eventually(async () => (await toasts.filter({ hasText: 'branch main' }).count()) === 1, WAIT, 'the commit toast');
  while ((await toasts.count()) > 0) await page.keyboard.press('Escape');
  repo.git('checkout', '-q', 'feature/x');
  const branchToast = toasts.filter({ hasText: 'branch feature/x' });
  await branchToast.waitFor({ timeout: WAIT });
  await page.waitForTimeout(1000); // anything that would split the switch into more toasts has arrived by now
  assert.equal(await toasts.count(), 1, `toasts: ${await toasts.allTextContents()}`);
  assert.equal(await page.locator('#branch').textContent(), 'feature/x');
  assert.equal(await page.locator('article.workflow').count(), 3);
  assert.equal(await page.locator('article.workflow[data-id="smoke"] h3').textContent(), 'Release Smoke (feature x)');
  assert.equal(await regression.locator('[data-step="full"] .minutes').textContent(), '60 min');
  await branchToast.locator('button.expand').click();
  assert.ok((await branchToast.locator('section.patch').count()) >= 3, 'the diff lists every changed workflow');
  await shot(page, '05-branch-switch');
  await branchToast.locator('button.close').click();
  assert.equal(await toasts.count(), 0, 'a click on × dismisses');

  // 5. Restart the server: a banner while it is down, then it catches up without a reload.
  const port = server.port;
  await server.stop();
  await page.locator('#banner').waitFor({ state: 'visible', timeout: WAIT });
  assert.match(await page.locator('#banner-text').textContent(), /Disconnected/);
  assert.equal(await page.locator('#banner').getAttribute('role'), 'alert');
  assert.notEqual(await pill.textContent(), 'live');
  await shot(page, '06-disconnected');
  repo.write('workflows/smoke.yaml', repo.read('workflows/smoke.yaml').replace('Release Smoke (feature x)', 'Release Smoke (edited while down)'));
  server = await startServer(repo, `127.0.0.1:${port}`);
  await untilLive(page);
  await page.locator('#banner').waitFor({ state: 'hidden', timeout: WAIT });
  await eventually(
    async () => (await page.locator('article.workflow[data-id="smoke"] h3').textContent()) === 'Release Smoke (edited while down)',
    WAIT,
    'the edit made while the server was down',
  );
  assert.equal(await page.evaluate(() => window.__qaMarker), 'still here');
  assert.match(await page.locator('#log').textContent(), /reconnected/);
  await shot(page, '07-reconnected');

  // And it is live again after the restart.
  repo.write('workflows/regression.yaml', repo.read('workflows/regression.yaml').replace('estimated_minutes: 60', 'estimated_minutes: 45'));
  await toasts.filter({ hasText: 'regression: 1 change' }).waitFor({ timeout: WAIT });
  assert.equal(await regression.locator('[data-step="full"] .minutes').textContent(), '45 min');

  assert.equal(seen.navigations, 1, 'the page navigated after it first loaded');
  assert.equal(await page.evaluate(() => performance.getEntriesByType('navigation').length), 1);
  assert.deepEqual(
    [...seen.console, ...seen.errors].filter((e) => !/WebSocket connection|ERR_CONNECTION_REFUSED|Failed to load resource/.test(e)),
    [],
  );
});

test('following a branch, the header shows the commit held and the next one once it is served', { timeout: 60_000 }, async (t) => {
  const repo = new Repo();
  const first = repo.git('rev-parse', 'HEAD');
  const server = await startFollower(repo, ['--poll-interval', '1']);
  const { page } = await browse(t, server, async () => {
    await server.stop();
    repo.remove();
  });
  const commit = page.locator('#commit');
  await eventually(async () => (await commit.textContent()) === first.slice(0, 7), WAIT, 'the first commit in the header');
  assert.equal(await commit.getAttribute('title'), first, 'the full id on hover');

  repo.write('workflows/smoke.yaml', SMOKE.replace('estimated_minutes: 5', 'estimated_minutes: 8'));
  repo.commitAll('smoke longer');
  const second = repo.git('rev-parse', 'HEAD');
  await eventually(async () => (await commit.textContent()) === second.slice(0, 7), WAIT, 'the second commit in the header');
  assert.equal(await commit.getAttribute('title'), second);
  await page.screenshot({ path: join(OUTPUT, '14-following-a-branch.png') });
});

/**
 * The page of a repository whose Jira config points at a stand-in on
 * loopback answering with `handler`, its token read from `${variable}`;
 * `prepare(repo)` adds to that commit and `env` to the server's
 * environment. `jiraConfig(variable)` is the config again, for an edit.
 * After the test everything started here is stopped and removed.
 */
async function pageWithJira(t, { handler, variable, env, prepare = () => {} }) {
  const jira = http.createServer(handler);
  await new Promise((resolve) => jira.listen(0, '127.0.0.1', resolve));
  const jiraConfig = (name) =>
    `enabled: true\nbase_url: http://127.0.0.1:${jira.address().port}\nemail: qa@example.com\napi_token: \${${name}}\nproject_key: QA\ntimeout_ms: 3000\n`;
  const repo = new Repo();
  repo.write('config/jira_config.yaml', jiraConfig(variable));
  prepare(repo);
  repo.commitAll('point jira at a stand-in');
  const server = await startServer(repo, '127.0.0.1:0', env);
  const { page } = await browse(t, server, async () => {
    await server.stop();
    jira.close();
    repo.remove();
  });
  return { repo, page, jiraConfig };
}

test('a connection test shows as a badge and a toast, and a bad token flips it to failed', { timeout: 60_000 }, async (t) => {
  const GOOD = 'jira-good-S3CRET-4711';
  const BAD = 'jira-bad-S3CRET-0815';
  // A stand-in for Jira on loopback: 200 for the right basic credentials at
  // the connection test's paths (myself, then the project), 401 with a JSON
  // body otherwise.
  const expected = `Basic ${Buffer.from(`qa@example.com:${GOOD}`).toString('base64')}`;
  const { repo, page, jiraConfig } = await pageWithJira(t, {
    handler: (req, res) => {
      const ok = ['/rest/api/3/myself', '/rest/api/3/project/QA'].includes(req.url) && req.headers.authorization === expected;
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(ok ? '{"accountId":"qa"}' : '{"errorMessages":["Client must be authenticated to access this resource."]}');
    },
    variable: 'JIRA_TEST_TOKEN',
    env: { JIRA_TEST_TOKEN: GOOD, JIRA_BAD_TOKEN: BAD },
  });
  const badge = page.locator('#integrations tr[data-id="jira"] .badge.status');
  await eventually(async () => (await badge.textContent()) === 'ok', WAIT, 'the jira badge to read ok');
  assert.match(await page.locator('#integrations tr[data-id="jira"] .detail').textContent(), /\d+ ms/);
  assert.match(await page.locator('#integrations tr[data-id="jira"] .tested').textContent(), /^last tested /);

  repo.write('config/jira_config.yaml', jiraConfig('JIRA_BAD_TOKEN'));
  const failed = page.locator('#toasts > .toast[role="alert"]').filter({ hasText: 'jira: connection failed' });
  await failed.waitFor({ timeout: WAIT });
  assert.match(await failed.locator('.toast-title').textContent(), /HTTP 401/);
  assert.match(await failed.textContent(), /Client must be authenticated/);
  await eventually(async () => (await badge.textContent()) === 'failed', WAIT, 'the jira badge to read failed');
  await page.screenshot({ path: join(OUTPUT, '08-integration-failed.png') });

  const shown = await page.content();
  for (const secret of [GOOD, BAD]) assert.ok(!shown.includes(secret), 'a token reached the page');
});

test('planted secrets in every shape never reach the page, whatever it shows', { timeout: 60_000 }, async (t) => {
  const TOKEN = 'QzPageTok+en/4417x';
  const BLOCK = ['QzPageBlockOne5512', 'QzPageBlockTwo6623'];
  const BLOCK_NEW = ['QzPageBlockThree7734', 'QzPageBlockFour8845'];
  const USERINFO = 'QzPageUserPw9956x';
  const NO_COLON = 'QzPageNoColon1167x';
  const planted = [TOKEN, ...BLOCK, ...BLOCK_NEW, USERINFO, NO_COLON];
  const forms = (s) => [
    s,
    s.toLowerCase(),
    s.toUpperCase(),
    [...Buffer.from(s)].map((b) => (/[A-Za-z0-9]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`)).join(''),
    Buffer.from(s).toString('base64'),
  ];
  // A Jira stand-in that refuses and echoes the token in several encodings.
  const testmo = (block) =>
    `enabled: false\nbase_url: https://admin:${USERINFO}@testmo.example.com\napi_token: |\n  ${block[0]}\n  ${block[1]}\nproject_id: 7\n`;
  const { repo, page } = await pageWithJira(t, {
    handler: (req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errorMessages: ['rejected'], got: req.headers.authorization, echo: forms(TOKEN).join(' ') }));
    },
    variable: 'PAGE_TOKEN',
    env: { PAGE_TOKEN: TOKEN },
    prepare: (r) => r.write('config/testmo_config.yaml', testmo(BLOCK)),
  });
  const badge = page.locator('#integrations tr[data-id="jira"] .badge.status');
  await eventually(async () => (await badge.textContent()) === 'failed', WAIT, 'the jira badge to read failed');

  // A new multi-line secret: its toast's diff, opened, shows masked lines.
  repo.write('config/testmo_config.yaml', testmo(BLOCK_NEW));
  const toast = page.locator('#toasts > .toast').filter({ hasText: 'testmo' });
  await toast.first().waitFor({ timeout: WAIT });
  await toast.first().locator('button.expand').click();
  await eventually(async () => (await page.content()).includes('••••••'), WAIT, 'the masked diff lines');
  // A broken file with a secret line without a separator: its error toast.
  repo.write('config/postman_config.yaml', `enabled: false\nbase_url: https://api.example.com\napi_key ${NO_COLON}\n`);
  await page.locator('#toasts > .toast[role="alert"]').filter({ hasText: 'postman_config.yaml' }).first().waitFor({ timeout: WAIT });
  await page.screenshot({ path: join(OUTPUT, '09-planted-secrets.png') });

  const shown = await page.content();
  for (const secret of planted) {
    for (const form of forms(secret)) {
      assert.ok(!shown.toLowerCase().includes(form.toLowerCase()), `a form of a planted secret reached the page: ${form}`);
    }
  }
});
