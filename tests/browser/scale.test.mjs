// The page on a 2,000-workflow repository, in Chromium: the DOM stays
// small, a reload rebuilds only the rows it names, the filter finds a
// workflow by each field, toasts lead to their entity and coalesce, runs in
// progress show, and after random edits, adds, deletes and a branch switch
// every row (scrolled through) equals GET /api/v1/workflows.
//
// The random part is replayable: QA_RELOAD_SEED=<n> (the seed is printed).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { BigRepo, OUTPUT, WAIT, eventually, generatedWorkflow, getJson, launchChromium, newPage, seeded, startServer, untilLive, watchPage } from './helpers.mjs';

const COUNT = 2000;
const SWITCHED = 300;
const DOM_BOUND = 5000;

let repo;
let server;
let browser;
let page;
let seen;

before(async () => {
  mkdirSync(OUTPUT, { recursive: true });
  repo = new BigRepo(COUNT, SWITCHED);
  server = await startServer(repo);
  browser = await launchChromium();
  page = await newPage(browser, 1400);
  seen = watchPage(page);
  await page.goto(`${server.url}/`);
  await untilLive(page);
  await page.locator('article.workflow[data-id="w0"]').waitFor({ timeout: WAIT });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  repo?.remove();
});

const domNodes = () => page.evaluate(() => document.querySelectorAll('*').length);
const row = (id) => page.locator(`article.workflow[data-id="${id}"]`);
const toasts = () => page.locator('#toasts > .toast');

async function dismissToasts() {
  await page.evaluate(() => {
    for (const t of document.querySelectorAll('#toasts > .toast')) t.remove();
  });
}

async function setFilter(text) {
  await page.fill('#filter', text);
}

/** The page's revision reaches the server's. */
async function caughtUp() {
  await eventually(
    async () => {
      const { revision } = await getJson(server.url, '/api/v1/dev/hot-reload/status');
      return (await page.locator('#revision').textContent()) === String(revision);
    },
    WAIT,
    'the page to reach the server revision',
  );
}

/** Every row of the workflow list, read by scrolling its box from top to bottom. */
function scrollThrough() {
  return page.evaluate(async () => {
    const box = document.getElementById('workflows');
    const frames = (n) => new Promise((done) => {
      const step = (k) => (k === 0 ? done() : requestAnimationFrame(() => step(k - 1)));
      step(n);
    });
    const rows = new Map();
    let maxNodes = 0;
    box.scrollTop = 0;
    await frames(3);
    for (;;) {
      for (const a of box.querySelectorAll('article.workflow')) {
        rows.set(a.dataset.id, {
          top: parseFloat(a.style.top),
          name: a.querySelector('h3').textContent,
          meta: a.querySelector('.file').textContent,
          steps: [...a.querySelectorAll('li.step')].map((s) => [
            s.querySelector('.step-name').textContent,
            s.dataset.step,
            s.querySelector('.minutes').textContent,
            s.querySelector('.integration')?.textContent ?? null,
          ]),
        });
      }
      maxNodes = Math.max(maxNodes, document.querySelectorAll('*').length);
      if (box.scrollTop + box.clientHeight >= box.scrollHeight - 1) break;
      box.scrollTop += box.clientHeight;
      await frames(3);
    }
    return { rows: [...rows.entries()].sort((a, b) => a[1].top - b[1].top), maxNodes };
  });
}

function expectedRow(w) {
  return {
    name: w.definition.name,
    meta: `${w.file} · rev ${w.revision}`,
    steps: w.definition.steps.map((s) => [s.name, s.id, `${s.estimated_minutes} min`, s.integration ?? null]),
  };
}

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'base' });

test('at 2,000 workflows the DOM stays under the bound and an edit rebuilds only its own row', async () => {
  const nodes = await domNodes();
  assert.ok(nodes <= DOM_BOUND, `${nodes} DOM nodes at ${COUNT} workflows`);
  assert.equal(await page.locator('#workflow-count').textContent(), String(COUNT));
  // Natural order: Workflow 2 comes before Workflow 10.
  const firstIds = await page.locator('article.workflow').evaluateAll((rows) =>
    rows.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top)).map((a) => a.dataset.id),
  );
  assert.deepEqual(firstIds.slice(0, 4), ['w0', 'w1', 'w2', 'w3']);

  const tagged = await page.evaluate(() => {
    const ids = [];
    for (const a of document.querySelectorAll('article.workflow')) {
      a.__untouched = true;
      ids.push(a.dataset.id);
    }
    return ids;
  });
  assert.ok(tagged.length >= 5, `${tagged.length} rows drawn`);
  repo.write('workflows/w2.yaml', generatedWorkflow(2, { minutes: 99 }));
  await eventually(async () => (await row('w2').locator('[data-step="prepare"] .minutes').textContent()) === '99 min', WAIT, 'the new value');
  const kept = await page.evaluate(() =>
    [...document.querySelectorAll('article.workflow')].map((a) => [a.dataset.id, a.__untouched === true]),
  );
  const rebuilt = kept.filter(([, same]) => !same).map(([id]) => id);
  assert.deepEqual(rebuilt, ['w2'], 'only the patched row was rebuilt');
  await page.screenshot({ path: join(OUTPUT, '10-large-list.png') });
});

test('each row draws its content to exactly the height the list computed for it', async () => {
  // The list adds up the sizes in ui/geometry.js; style.css draws with the
  // same sizes. A row whose last line ends above or below its computed
  // bottom would overlap its neighbour or leave a gap.
  const rows = await page.evaluate(() =>
    [...document.querySelectorAll('article.workflow')].map((a) => {
      const style = getComputedStyle(a);
      const bottom = a.getBoundingClientRect().bottom - parseFloat(style.paddingBottom) - parseFloat(style.borderBottomWidth);
      const last = a.lastElementChild.getBoundingClientRect().bottom;
      return { id: a.dataset.id, off: Math.round((bottom - last) * 10) / 10, steps: a.querySelectorAll('.step').length };
    }),
  );
  assert.ok(rows.length >= 5, `${rows.length} rows drawn`);
  for (const r of rows) assert.ok(Math.abs(r.off) <= 1, `row ${r.id} (${r.steps} steps): its last line ends ${r.off}px short of its computed bottom (negative: past it)`);
});

test('the filter finds a workflow by each field, counts matches, and / and Escape drive it', async () => {
  repo.write('workflows/w11.yaml', generatedWorkflow(11, { name: 'Canary Nightly Check', extraStep: 'smoke-canary' }));
  repo.write('workflows/w12.yaml', 'name: Broken\nsteps: [\n');
  await page.locator('#errors li').first().waitFor({ timeout: WAIT });
  await eventually(async () => (await page.locator('#revision').textContent()) !== '1', WAIT, 'the edits');
  await caughtUp();

  const ids = () =>
    page.locator('article.workflow').evaluateAll((rows) =>
      rows.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top)).map((a) => a.dataset.id),
    );
  const cases = [
    ['id:w1234', ['w1234']],
    ['name:canary', ['w11']],
    ['file:/w777.yaml', ['w777']],
    ['step:smoke-canary', ['w11']],
    ['nightly check', ['w11']],
    ['is:error', ['w12']],
  ];
  for (const [query, expected] of cases) {
    await setFilter(query);
    await eventually(async () => JSON.stringify(await ids()) === JSON.stringify(expected), WAIT, `filter ${query} → ${expected}`);
    assert.equal(await page.locator('#match-count').textContent(), `${expected.length} of ${COUNT} match`, query);
  }
  await setFilter('integration:jira');
  const withJira = Math.ceil(COUNT / 7);
  await eventually(async () => (await page.locator('#match-count').textContent()) === `${withJira} of ${COUNT} match`, WAIT, 'the jira count');
  assert.ok((await ids()).every((id) => Number(id.slice(1)) % 7 === 0));
  for (const query of ['is:changed', 'is:dirty']) {
    await setFilter(query);
    await eventually(async () => {
      const shown = await ids();
      return shown.includes('w11') && shown.includes('w2') && !shown.includes('w3');
    }, WAIT, query);
  }
  // Sort by file: natural order of the file names.
  await setFilter('id:w1');
  await page.selectOption('#sort', 'file');
  await eventually(async () => (await ids()).slice(0, 3).join() === 'w1,w10,w11', WAIT, 'sorted by file');
  await page.selectOption('#sort', 'changed');
  await eventually(async () => (await ids())[0] === 'w11', WAIT, 'sorted by last change');
  await page.selectOption('#sort', 'name');

  // `/` focuses the filter; Escape clears it.
  await page.locator('h1').click();
  await page.keyboard.press('/');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'filter');
  await page.keyboard.press('Escape');
  assert.equal(await page.inputValue('#filter'), '');
  await eventually(async () => (await page.locator('#match-count').textContent()) === `${COUNT} shown`, WAIT, 'the cleared filter');

  repo.write('workflows/w12.yaml', generatedWorkflow(12));
  await eventually(async () => (await page.locator('#errors li').count()) === 0, WAIT, 'the fix');
  await dismissToasts();
});

test('clicking a toast brings its entity into view with its diff open, clearing the filter', async () => {
  await setFilter('id:w3');
  await eventually(async () => (await row('w1998').count()) === 0, WAIT, 'w1998 filtered out');
  repo.write('workflows/w1998.yaml', generatedWorkflow(1998, { minutes: 77 }));
  const t = toasts().filter({ hasText: 'w1998: 1 change' });
  await t.waitFor({ timeout: WAIT });
  await t.locator('.toast-title').click();
  assert.equal(await page.inputValue('#filter'), '', 'the filter was cleared');
  const target = row('w1998');
  await target.waitFor({ timeout: WAIT });
  const box = await page.locator('#workflows').boundingBox();
  const r = await target.boundingBox();
  const viewport = page.viewportSize();
  assert.ok(r.y >= box.y - 1 && r.y + r.height <= box.y + box.height + 1, `row ${JSON.stringify(r)} inside the list ${JSON.stringify(box)}`);
  assert.ok(r.y >= 0 && r.y + r.height <= viewport.height, 'row inside the window');
  const diff = target.locator('.row-detail.diff section.patch');
  await diff.waitFor({ timeout: WAIT });
  assert.equal(await diff.locator('.changes code.path').first().textContent(), 'steps[id=prepare].estimated_minutes');
  assert.equal(await target.locator('[data-step="prepare"] .minutes').textContent(), '77 min');
  await page.screenshot({ path: join(OUTPUT, '11-toast-leads-to-row.png') });
  await dismissToasts();
});

test('repeated saves of one workflow update one toast', async () => {
  for (const minutes of [31, 32, 33]) {
    repo.write('workflows/w7.yaml', generatedWorkflow(7, { minutes }));
    await eventually(async () => {
      const rows = await getJson(server.url, '/api/v1/workflows/w7');
      return rows.workflow?.definition?.steps?.[0]?.estimated_minutes === minutes || rows.definition?.steps?.[0]?.estimated_minutes === minutes;
    }, WAIT, `save ${minutes}`);
    await caughtUp();
  }
  const mine = toasts().filter({ hasText: /^w7:/ });
  assert.equal(await mine.count(), 1, `toasts: ${await toasts().allTextContents()}`);
  assert.match(await mine.locator('.toast-title').textContent(), /^w7: 3 changes · rev \d+$/);
  assert.match(await mine.textContent(), /3 saves/);
  await dismissToasts();
});

test('a run started through the API shows on the page and keeps its steps after the template changes', async () => {
  const started = await fetch(`${server.url}/api/v1/workflows/w5/runs`, { method: 'POST' }).then((r) => r.json());
  const run = page.locator(`#runs li.run[data-run="${started.id}"]`);
  await run.waitFor({ timeout: WAIT });
  assert.equal(await run.locator('.pinned').textContent(), `pinned to rev ${started.revision}`);
  assert.deepEqual(await run.locator('.run-steps > li').evaluateAll((l) => l.map((x) => x.dataset.step)), ['prepare', 'verify']);
  assert.equal(await run.locator('.badge.newer').count(), 0);

  await fetch(`${server.url}/api/v1/runs/${started.id}/steps/prepare/complete`, { method: 'POST' });
  await run.locator('.run-steps li.done[data-step="prepare"]').waitFor({ timeout: WAIT });
  assert.equal(await run.locator('.progress-text').textContent(), '1/2 steps done · 15/20 min');
  assert.equal(await run.getByRole('progressbar').getAttribute('aria-valuenow'), '1');

  repo.write('workflows/w5.yaml', generatedWorkflow(5, { name: 'Workflow 5 v2', extraStep: 'added-later' }));
  await run.locator('.badge.newer').waitFor({ timeout: WAIT });
  assert.match(await run.locator('.badge.newer').textContent(), /^newer definition exists \(rev \d+\)$/);
  assert.deepEqual(await run.locator('.run-steps > li').evaluateAll((l) => l.map((x) => x.dataset.step)), ['prepare', 'verify'], 'the run keeps its own steps');
  await setFilter('id:w5');
  await eventually(async () => (await row('w5').locator('li.step').count()) === 3, WAIT, 'the new template in the list').catch(async (e) => {
    throw new Error(`${e.message}: ${await page.locator('#workflows').innerHTML()} ${JSON.stringify(await getJson(server.url, '/api/v1/workflows/w5'))}`);
  });
  assert.equal(await row('w5').locator('.badge.older-runs').textContent(), '1 run on an older definition');
  await page.locator('#runs-section').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(OUTPUT, '12-runs.png') });
  await setFilter('');
  await dismissToasts();
});

test('after random edits, adds, deletes and a branch switch every row equals the API', async () => {
  const seed = Number(process.env.QA_RELOAD_SEED ?? Date.now() % 1_000_000);
  const random = seeded(seed);
  const pick = (n) => Math.floor(random() * n);
  const log = [];
  for (let k = 0; k < 40; k++) {
    const i = pick(COUNT + 200);
    const file = `workflows/w${i}.yaml`;
    const what = random();
    if (what < 0.5) {
      repo.write(file, generatedWorkflow(i, { minutes: 1 + pick(600), name: `Edited ${i} ${k}` }));
      log.push(`edit ${file}`);
    } else if (what < 0.75) {
      const n = COUNT + k;
      repo.write(`workflows/w${n}.yaml`, generatedWorkflow(n, { extraStep: `new-${k}` }));
      log.push(`add w${n}`);
    } else {
      rmSync(join(repo.dir, file), { force: true });
      log.push(`delete ${file}`);
    }
    if (k % 8 === 7) await new Promise((r) => setTimeout(r, 150));
  }
  const context = `seed ${seed} (QA_RELOAD_SEED=${seed} replays it): ${log.join(', ')}`;
  await caughtUp();
  repo.commitAll('random edits');
  await caughtUp();
  await dismissToasts();
  repo.git('checkout', '-q', 'switched');
  const switchToast = toasts().filter({ hasText: 'branch switched' });
  await switchToast.waitFor({ timeout: WAIT });
  await caughtUp();

  // The switch's toast: a summary, diffs on demand, and "show all changed".
  await switchToast.locator('button.expand').click();
  const summary = switchToast.locator('.diff-summary');
  await summary.waitFor({ timeout: WAIT });
  const entry = switchToast.locator('details.patch-entry').first();
  assert.equal(await entry.locator('section.patch').count(), 0, 'diffs are built on demand');
  await entry.locator('summary').click();
  await entry.locator('section.patch').waitFor({ timeout: WAIT });
  await page.screenshot({ path: join(OUTPUT, '13-branch-switch-summary.png') });
  await switchToast.locator('button.show-changed').click();
  const { revision } = await getJson(server.url, '/api/v1/dev/hot-reload/status');
  assert.equal(await page.inputValue('#filter'), `rev:${revision}`);
  const api = await getJson(server.url, '/api/v1/workflows');
  const changed = api.workflows.filter((w) => w.revision === revision).length;
  assert.ok(changed >= SWITCHED - 60, `${changed} workflows changed by the switch (${context})`);
  await eventually(async () => (await page.locator('#match-count').textContent()) === `${changed} of ${api.workflows.length} match`, WAIT, 'the changed filter');
  await setFilter('');
  await dismissToasts();

  const { rows, maxNodes } = await scrollThrough();
  assert.ok(maxNodes <= DOM_BOUND, `${maxNodes} DOM nodes while scrolling`);
  const shown = new Map(rows);
  assert.equal(shown.size, api.workflows.length, context);
  for (const w of api.workflows) {
    assert.deepEqual(shown.get(w.id) && { ...shown.get(w.id), top: undefined }, { ...expectedRow(w), top: undefined }, `${w.id}: ${context}`);
  }
  const expectedOrder = [...api.workflows]
    .sort((a, b) => collator.compare(a.definition.name, b.definition.name) || collator.compare(a.id, b.id))
    .map((w) => w.id);
  assert.deepEqual(rows.map(([id]) => id), expectedOrder, `natural order by name (${context})`);
  assert.deepEqual(seen.errors, []);
});
