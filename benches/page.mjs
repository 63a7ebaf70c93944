// The page in headless Chromium against the release binary, at 100, 1,000
// and 10,000 generated workflows: page load to first rows, save → changed
// value painted (p50/p99), DOM nodes, a branch switch of up to 1,000
// workflows → every visible row correct, and the longest task while
// scrolling the list.
//
//   cargo build --release && node benches/page.mjs [sizes…]
//
// Needs the npm packages of tests/browser (`npm ci --prefix tests/browser`)
// and Chromium (QA_RELOAD_CHROMIUM, default /usr/bin/chromium). The binary
// is target/release/qa-reload unless QA_RELOAD_BIN names another.

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

import { BigRepo, CHROMIUM, CHROMIUM_ARGS, ROOT, generatedWorkflow, startServer } from '../tests/browser/helpers.mjs';

const require = createRequire(join(ROOT, 'tests', 'browser', 'package.json'));
const { chromium } = require('playwright-core');

process.env.QA_RELOAD_BIN ??= join(ROOT, 'target', 'release', 'qa-reload');
if (!existsSync(process.env.QA_RELOAD_BIN)) {
  console.error(`no binary at ${process.env.QA_RELOAD_BIN}; run \`cargo build --release\` first`);
  process.exit(2);
}

const SIZES = process.argv.slice(2).map(Number).filter(Boolean);
const SAVES = 60;
const SWITCH = 1000;
const SCROLL_FRAMES = 240;

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

// Runs in the page before its scripts: the time the first row appears and
// is painted, and every long task.
function instrument() {
  window.__longTasks = [];
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push({ start: e.startTime, duration: e.duration });
  }).observe({ type: 'longtask', buffered: true });
  const seen = new MutationObserver(() => {
    if (!document.querySelector('article.workflow')) return;
    seen.disconnect();
    window.__firstRows = performance.now();
    requestAnimationFrame(() => setTimeout(() => (window.__firstRowsPainted = performance.now()), 0));
  });
  document.addEventListener('DOMContentLoaded', () => seen.observe(document.body, { childList: true, subtree: true }));
  /** Resolves with the epoch time the client core's state next changes revision. */
  window.__nextRevision = () => {
    const client = window.qaReload.client;
    const before = client.getState().revision;
    return new Promise((resolve) => {
      const off = client.subscribe((s) => {
        if (s.revision !== before) {
          off();
          resolve(performance.timeOrigin + performance.now());
        }
      });
    });
  };
  /** Resolves with the epoch time of the paint after `check()` first holds. */
  window.__paintedWhen = (check) =>
    new Promise((resolve) => {
      const done = () => requestAnimationFrame(() => setTimeout(() => resolve(performance.timeOrigin + performance.now()), 0));
      if (check()) return done();
      const watch = new MutationObserver(() => {
        if (!check()) return;
        watch.disconnect();
        done();
      });
      watch.observe(document.getElementById('workflows'), { childList: true, subtree: true, characterData: true });
    });
}

async function measure(browser, count) {
  const switched = Math.min(SWITCH, count);
  const built = Date.now();
  const repo = new BigRepo(count, switched);
  const server = await startServer(repo);
  const setupMs = Date.now() - built;
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 }, reducedMotion: 'reduce' })).newPage();
  await page.addInitScript(instrument);
  try {
    // 1. Load: navigation start → first rows painted.
    await page.goto(`${server.url}/`);
    await page.waitForFunction(() => window.__firstRowsPainted !== undefined, null, { timeout: 60_000 });
    const load = await page.evaluate(() => window.__firstRowsPainted);
    const domAfterLoad = await page.evaluate(() => document.querySelectorAll('*').length);

    // 2. Save → changed value painted, on rows in view.
    const latencies = [];
    const afterFrame = [];
    for (let k = 0; k < SAVES; k++) {
      const i = k % 4;
      const minutes = 100 + k;
      await page.evaluate(
        ([id, text]) => {
          window.__frameAt = window.__nextRevision();
          window.__saved = window.__paintedWhen(
            () => document.querySelector(`article.workflow[data-id="${id}"] [data-step="prepare"] .minutes`)?.textContent === text,
          );
        },
        [`w${i}`, `${minutes} min`],
      );
      const t0 = now();
      repo.write(`workflows/w${i}.yaml`, generatedWorkflow(i, { minutes }));
      const painted = await page.evaluate(() => window.__saved);
      const frameAt = await page.evaluate(() => window.__frameAt);
      latencies.push(painted - t0);
      afterFrame.push(painted - frameAt);
      await sleep(30);
    }
    latencies.sort((a, b) => a - b);
    afterFrame.sort((a, b) => a - b);

    // 3. Branch switch of `switched` workflows → every visible row correct.
    repo.commitAll('saves');
    await sleep(300);
    const switches = [];
    for (const [branch, prefix] of [['switched', 'Switched '], ['main', 'Workflow ']]) {
      await page.evaluate(([expected, count]) => {
        window.__frameAt = window.__nextRevision();
        window.__switched = window.__paintedWhen(() => {
          const rows = [...document.querySelectorAll('#workflows article.workflow')];
          // Every visible row of a switched workflow shows its new name, from w0 on.
          const switchedRow = (r) => Number(r.dataset.id.slice(1)) < count;
          return (
            document.querySelector('#workflows article.workflow[data-id="w0"]') !== null &&
            rows.every((r) => !switchedRow(r) || r.querySelector('h3').textContent.startsWith(expected))
          );
        });
        window.__longTasks.length = 0;
      }, [prefix, switched]);
      const t0 = now();
      repo.git('checkout', '-q', branch);
      const gitDone = now();
      const frameAt = await page.evaluate(() => window.__frameAt);
      const rowsAt = await page.evaluate(() => window.__switched);
      const longest = await page.evaluate(() => Math.max(0, ...window.__longTasks.map((t) => t.duration)));
      switches.push({ gitMs: gitDone - t0, frameToRows: rowsAt - frameAt, gitToRows: rowsAt - gitDone, longest });
      await sleep(500);
    }

    // 4. Scrolling: the list from top to bottom in big steps, then random jumps.
    const scroll = await page.evaluate(async (frames) => {
      window.__longTasks.length = 0;
      // The list's own work per frame, apart from style, layout, GC and
      // whatever else the machine makes the renderer wait for.
      const list = window.qaReload.workflows;
      const paint = list.paint.bind(list);
      const paints = [];
      list.paint = () => {
        const t = performance.now();
        paint();
        paints.push(performance.now() - t);
      };
      const box = document.getElementById('workflows');
      let maxNodes = 0;
      let maxGap = 0;
      let last = performance.now();
      const step = box.scrollHeight / frames;
      for (let f = 0; f < frames * 1.5; f++) {
        box.scrollTop = f < frames ? f * step : Math.random() * box.scrollHeight;
        await new Promise((r) => requestAnimationFrame(r));
        const t = performance.now();
        maxGap = Math.max(maxGap, t - last);
        last = t;
        maxNodes = Math.max(maxNodes, document.querySelectorAll('*').length);
      }
      await new Promise((r) => setTimeout(r, 100));
      list.paint = paint;
      paints.sort((a, b) => a - b);
      const at = (p) => paints[Math.min(paints.length - 1, Math.ceil(p * paints.length) - 1)] ?? 0;
      return { maxNodes, maxGap, paint50: at(0.5), paint99: at(0.99), maxPaint: at(1), longTasks: window.__longTasks.length, longest: Math.max(0, ...window.__longTasks.map((t) => t.duration)) };
    }, SCROLL_FRAMES);

    return { count, setupMs, load, domAfterLoad, latencies, afterFrame, switched, switches, scroll };
  } finally {
    await page.context().close();
    await server.stop();
    repo.remove();
  }
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
const f = (ms) => `${ms.toFixed(1)} ms`;
try {
  console.log(`page bench: ${SAVES} saves per size, headless Chromium, ${process.env.QA_RELOAD_BIN}`);
  for (const count of SIZES.length ? SIZES : [100, 1000, 10_000]) {
    const r = await measure(browser, count);
    console.log(`\n${count} workflows (repository made and served in ${r.setupMs} ms)`);
    console.log(`  page load → first rows painted   ${f(r.load)}`);
    console.log(`  save → value painted p50 / p99   ${f(percentile(r.latencies, 50))} / ${f(percentile(r.latencies, 99))} (max ${f(r.latencies[r.latencies.length - 1])})`);
    console.log(`    of which frame → painted p50 / p99 ${f(percentile(r.afterFrame, 50))} / ${f(percentile(r.afterFrame, 99))}`);
    console.log(`  DOM elements after load / max    ${r.domAfterLoad} / ${Math.max(r.domAfterLoad, r.scroll.maxNodes)}`);
    for (const [k, s] of r.switches.entries()) {
      console.log(
        `  branch switch ${k === 0 ? 'there' : 'back '} (${r.switched} workflows): frame → visible rows correct ${f(s.frameToRows)}; git done → rows ${f(s.gitToRows)}; longest task ${f(s.longest)}`,
      );
    }
    console.log(
      `  scrolling ${Math.round(SCROLL_FRAMES * 1.5)} frames: longest task ${r.scroll.longest ? `${f(r.scroll.longest)} (${r.scroll.longTasks} over 50 ms)` : 'none over 50 ms'}, longest frame ${f(r.scroll.maxGap)}, list paint p50 / p99 / max ${f(r.scroll.paint50)} / ${f(r.scroll.paint99)} / ${f(r.scroll.maxPaint)}`,
    );
  }
} finally {
  await browser.close();
}
