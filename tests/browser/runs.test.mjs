// Trial runs end to end in a real browser (Debian's Chromium through
// playwright-core) against the `qa-reload` binary: a run started from a
// workflow row, its steps completed with the keyboard and from a second
// page, the template edited on disk underneath it (the run keeps its
// definition, says a newer one exists, and Compare shows the difference),
// the server restarted on the same database, a run finished into the
// history, a removed template, and a discard that asks first.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { OUTPUT, Repo, WAIT, eventually, getJson, launchChromium, newPage, startServer, untilLive, watchPage } from './helpers.mjs';

const TRIAL = `id: checkout
name: Checkout Trial
description: Walk the checkout before a release
steps:
  - id: cart
    name: Fill the cart
    estimated_minutes: 5
    checklist: [Three items of different sizes, One item on sale]
  - id: pay
    name: Pay by card
    estimated_minutes: 10
    checklist: [Declined card shows a message]
  - id: receipt
    name: Check the receipt
    estimated_minutes: 15
`;

/** The template edited underneath the run: `cart` takes 8 minutes, a step `refund` is added. */
const EDITED = TRIAL.replace('estimated_minutes: 5', 'estimated_minutes: 8') + `  - id: refund
    name: Refund the order
    estimated_minutes: 20
`;

test('a trial run from the page: keyboard, two pages, an edit underneath, a restart, finish and discard', { timeout: 180_000 }, async (t) => {
  mkdirSync(OUTPUT, { recursive: true });
  const repo = new Repo();
  repo.write('workflows/checkout.yaml', TRIAL);
  repo.commitAll('checkout trial');
  let server = await startServer(repo);
  const port = server.port;
  const browser = await launchChromium();
  t.after(async () => {
    await browser.close();
    await server.stop();
    repo.remove();
  });
  const watched = [];
  const open = async () => {
    const page = await newPage(browser, 1000);
    watched.push(watchPage(page));
    await page.goto(`${server.url}/`);
    await untilLive(page);
    await page.locator('article.workflow[data-id="checkout"]').waitFor();
    return page;
  };
  const a = await open();
  const b = await open();
  const cardIn = (page, id) => page.locator(`#runs li.run[data-run="${id}"]`);
  const stepIds = (card) => card.locator('.run-steps > li').evaluateAll((l) => l.map((x) => x.dataset.step));
  const focused = (page) => page.evaluate(() => {
    const e = document.activeElement;
    return e ? `${e.tagName.toLowerCase()}.${e.className}[${e.dataset.step ?? ''}]` : '';
  });

  // 1. Start a run from the workflow row, with the keyboard: the button has
  //    an accessible name, Space presses it, focus lands on the first step.
  const start = a.getByRole('button', { name: 'Start a trial run of Checkout Trial' });
  await start.focus();
  await a.keyboard.press('Space');
  const card = a.locator('#runs li.run[data-workflow="checkout"]');
  await card.waitFor({ timeout: WAIT });
  const runId = await card.getAttribute('data-run');
  const stored = await getJson(server.url, `/api/v1/runs/${runId}`);
  assert.equal(stored.workflow_id, 'checkout');
  assert.deepEqual(await stepIds(card), ['cart', 'pay', 'receipt']);
  assert.deepEqual(await card.locator('li[data-step="cart"] .checks li').allTextContents(), ['Three items of different sizes', 'One item on sale']);
  assert.equal(await card.locator('li[data-step="receipt"] .checks').count(), 0);
  const bar = card.getByRole('progressbar');
  assert.match(await bar.getAttribute('aria-label'), /^Progress of the run of Checkout Trial started /);
  assert.equal(await bar.getAttribute('aria-valuemin'), '0');
  assert.equal(await bar.getAttribute('aria-valuemax'), '3');
  assert.equal(await bar.getAttribute('aria-valuenow'), '0');
  assert.equal(await card.locator('.progress-text').textContent(), '0/3 steps done · 0/30 min');
  await eventually(async () => (await focused(a)) === 'button.complete[cart]', WAIT, 'focus on the first step to complete');
  assert.equal(await a.locator('#runs-status').textContent(), 'Started a trial run of Checkout Trial.');

  // The second page sees the run appear without a reload.
  const cardB = cardIn(b, runId);
  await cardB.waitFor({ timeout: WAIT });

  // 2. Complete the first step with Space; the next step takes the focus.
  await a.keyboard.press('Space');
  await card.locator('li.done[data-step="cart"]').waitFor({ timeout: WAIT });
  await eventually(async () => (await focused(a)) === 'button.complete[pay]', WAIT, 'focus on the next step');
  assert.equal(await bar.getAttribute('aria-valuenow'), '1');
  assert.equal(await bar.getAttribute('aria-valuetext'), '1 of 3 steps done, 5 of 30 minutes');
  assert.equal(await card.locator('.progress-text').textContent(), '1/3 steps done · 5/30 min');
  // When it was completed: the stored time.
  const afterOne = await getJson(server.url, `/api/v1/runs/${runId}`);
  assert.deepEqual(afterOne.completed.map((c) => c.step), ['cart']);
  assert.equal(await card.locator('li[data-step="cart"] .done-at time').getAttribute('datetime'), afterOne.completed[0].at);
  // Page B sees page A's completion.
  await cardB.locator('li.done[data-step="cart"]').waitFor({ timeout: WAIT });

  // 3. Page B completes the second step by its accessible name; page A sees it.
  await cardB.getByRole('button', { name: 'Complete step Pay by card' }).click();
  await card.locator('li.done[data-step="pay"]').waitFor({ timeout: WAIT });
  assert.equal(await card.locator('.progress-text').textContent(), '2/3 steps done · 15/30 min');
  assert.equal(await card.locator('li[data-step="receipt"] .done-at').count(), 0);
  // Tab from the last step to do reaches Finish (checklist text is not a stop).
  await card.getByRole('button', { name: 'Complete step Check the receipt' }).focus();
  await a.keyboard.press('Tab');
  assert.equal(await focused(a), 'button.finish[]');

  // 4. Edit the template on disk: a step added, minutes changed. The run
  //    keeps its own steps and minutes and says a newer definition exists.
  repo.write('workflows/checkout.yaml', EDITED);
  const row = a.locator('article.workflow[data-id="checkout"]');
  await row.locator('[data-step="refund"]').waitFor({ timeout: WAIT });
  const revision = (await getJson(server.url, '/api/v1/workflows/checkout')).revision;
  const newer = card.locator('.badge.newer');
  await newer.waitFor({ timeout: WAIT });
  assert.equal(await newer.textContent(), `newer definition exists (rev ${revision})`);
  assert.deepEqual(await stepIds(card), ['cart', 'pay', 'receipt'], 'the run keeps its steps');
  assert.equal(await card.locator('li[data-step="cart"] .minutes').textContent(), '5 min', 'and its minutes');
  assert.equal(await card.locator('.progress-text').textContent(), '2/3 steps done · 15/30 min');
  assert.equal(await row.locator('.badge.older-runs').textContent(), '1 run on an older definition');
  await cardB.locator('.badge.newer').waitFor({ timeout: WAIT });

  // Compare opens the diff view a reload toast uses: changes by step, lines.
  const compare = card.getByRole('button', { name: `Compare this run's definition (rev ${stored.revision}) with the one in force (rev ${revision})` });
  await compare.click();
  const panel = card.locator('.run-compare');
  await panel.locator('section.patch').waitFor({ timeout: WAIT });
  assert.equal(await compare.getAttribute('aria-expanded'), 'true');
  assert.deepEqual(await panel.locator('.changes code.path').allTextContents(), ['steps[id=cart].estimated_minutes', 'steps[id=refund]']);
  assert.ok((await panel.locator('table.diff tr.insert').count()) >= 4, 'the added step and the new minutes are inserted lines');
  assert.deepEqual(await panel.locator('table.diff tr.delete td.text').allTextContents(), ['    estimated_minutes: 5']);
  await card.scrollIntoViewIfNeeded();
  await a.locator('#runs-section').screenshot({ path: join(OUTPUT, 'trial-run.png') });

  // 5. Restart the server on the same database file: the run and its
  //    completed steps are still there, read back from the store.
  const database = join(repo.dir, '.git', 'qa-reload', 'runs.sqlite3');
  assert.ok(existsSync(database), `the run store is ${database}`);
  await server.stop();
  server = await startServer(repo, `127.0.0.1:${port}`);
  await untilLive(a);
  await b.goto(`${server.url}/`);
  await cardB.waitFor({ timeout: WAIT });
  for (const page of [a, b]) {
    const c = cardIn(page, runId);
    await c.locator('li.done[data-step="pay"]').waitFor({ timeout: WAIT });
    assert.deepEqual(await c.locator('.run-steps > li.done').evaluateAll((l) => l.map((x) => x.dataset.step)), ['cart', 'pay']);
    assert.equal(await c.locator('li[data-step="cart"] .done-at time').getAttribute('datetime'), afterOne.completed[0].at);
    assert.match(await c.locator('.badge.newer').textContent(), /^newer definition exists \(rev \d+\)$/);
    assert.deepEqual(await stepIds(c), ['cart', 'pay', 'receipt']);
  }

  // 6. Finish: the run leaves the runs in progress for the workflow's
  //    history, collapsed, on both pages.
  await card.getByRole('button', { name: /^Finish the run of Checkout Trial/ }).click();
  await card.waitFor({ state: 'detached', timeout: WAIT });
  const history = a.locator('details.run-history[data-workflow="checkout"]');
  await history.waitFor({ timeout: WAIT });
  assert.equal(await history.evaluate((d) => d.open), false, 'collapsed');
  assert.equal(await history.locator('summary').textContent(), 'Finished runs of Checkout Trial (1)');
  await history.locator('summary').click();
  assert.equal(await history.locator(`li.past-run[data-run="${runId}"] .past-progress`).textContent(), '2/3 steps · 15/30 min');
  await cardB.waitFor({ state: 'detached', timeout: WAIT });
  await b.locator('details.run-history[data-workflow="checkout"]').waitFor({ timeout: WAIT });
  const finished = await getJson(server.url, `/api/v1/runs/${runId}`);
  assert.equal(finished.finished, true);
  assert.deepEqual(finished.completed.map((c) => c.step), ['cart', 'pay']);

  // 7. A removed template says so; the run keeps its steps.
  await a.getByRole('button', { name: 'Start a trial run of Release Smoke' }).click();
  const smoke = a.locator('#runs li.run[data-workflow="smoke"]');
  await smoke.waitFor({ timeout: WAIT });
  rmSync(join(repo.dir, 'workflows', 'smoke.yaml'));
  await smoke.locator('.badge.removed').waitFor({ timeout: WAIT });
  assert.equal(await smoke.locator('.badge.removed').textContent(), 'template removed: the run keeps its own definition');
  assert.deepEqual(await stepIds(smoke), ['login']);

  // 8. Discard asks first: keeping it keeps it; confirming deletes it from
  //    the store, and the other page sees it go.
  const smokeId = await smoke.getAttribute('data-run');
  const dialog = a.locator('#discard-dialog');
  await smoke.getByRole('button', { name: /^Discard the run of Release Smoke/ }).click();
  await dialog.waitFor({ state: 'visible' });
  assert.match(await dialog.locator('.dialog-text').textContent(), /is deleted from the run store.*cannot be undone/);
  assert.equal(await a.evaluate(() => document.activeElement?.dataset.close), 'keep', 'the safe choice has the focus');
  await a.keyboard.press('Space');
  await dialog.waitFor({ state: 'hidden' });
  assert.equal(await a.locator('#runs-status').textContent(), 'Nothing was discarded.');
  assert.equal((await fetch(`${server.url}/api/v1/runs/${smokeId}`)).status, 200);
  await cardIn(b, smokeId).waitFor({ timeout: WAIT });
  await smoke.getByRole('button', { name: /^Discard the run of Release Smoke/ }).click();
  await dialog.getByRole('button', { name: 'Discard the run' }).click();
  await smoke.waitFor({ state: 'detached', timeout: WAIT });
  assert.equal((await fetch(`${server.url}/api/v1/runs/${smokeId}`)).status, 404);
  await cardIn(b, smokeId).waitFor({ state: 'detached', timeout: WAIT });
  assert.equal(await a.locator('#runs-status').textContent(), 'Discarded the run of Release Smoke.');

  for (const seen of watched) {
    assert.deepEqual(seen.errors, []);
    // A failed fetch while the server restarts is expected; anything else is not.
    assert.deepEqual(seen.console.filter((m) => !/Failed to load resource|ERR_CONNECTION_REFUSED/.test(m)), []);
  }
});
