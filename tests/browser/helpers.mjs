// Shared by the JS tests: the qa-reload binary under test, temporary git
// repositories, and `qa-reload serve` processes on ports the OS picks.

import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CHROMIUM = process.env.QA_RELOAD_CHROMIUM ?? '/usr/bin/chromium';
export const OUTPUT = process.env.QA_RELOAD_TEST_OUTPUT ?? join(ROOT, 'target', 'browser-test-output');

/** The binary `cargo test` built (tests/it/browser.rs passes its path). */
export function binary() {
  const bin = process.env.QA_RELOAD_BIN;
  if (!bin || !existsSync(bin)) {
    throw new Error('QA_RELOAD_BIN must name the built qa-reload binary; run these tests with `cargo test`');
  }
  return bin;
}

const GIT_ENV = {
  ...process.env,
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'QA Tester',
  GIT_AUTHOR_EMAIL: 'qa@example.com',
  GIT_COMMITTER_NAME: 'QA Tester',
  GIT_COMMITTER_EMAIL: 'qa@example.com',
};

export const REGRESSION = `id: regression
name: Regression Suite
description: Run before every release
steps:
  - id: smoke
    name: Run the smoke pack
    estimated_minutes: 10
    integration: jira
  - id: full
    name: Run the full regression pack
    estimated_minutes: 60
    checklist: [All suites green]
`;

export const JIRA = `enabled: false
base_url: https://qa-team.atlassian.net
email: qa@example.com
api_token: not-a-real-token
project_key: QA
timeout_ms: 5000
`;

export const SMOKE = `id: smoke
name: Release Smoke
steps:
  - id: login
    name: Log in and out
    estimated_minutes: 5
`;

export const EXPLORATORY = `id: exploratory
name: Exploratory Session
steps:
  - id: charter
    name: Agree the charter
    estimated_minutes: 15
`;

/** A temp git repository on `main`, with a `feature/x` branch that changes two workflows. */
export class Repo {
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'qa-reload-js-'));
    this.git('init', '-q', '-b', 'main');
    this.write('workflows/regression.yaml', REGRESSION);
    this.write('workflows/smoke.yaml', SMOKE);
    this.write('config/jira_config.yaml', JIRA);
    this.commitAll('two workflows');
    this.git('checkout', '-q', '-b', 'feature/x');
    this.write('workflows/smoke.yaml', SMOKE.replace('Release Smoke', 'Release Smoke (feature x)'));
    this.write('workflows/exploratory.yaml', EXPLORATORY);
    this.commitAll('feature x');
    this.git('checkout', '-q', 'main');
  }

  git(...args) {
    // No automatic gc: with thousands of loose objects a commit would start
    // one in the background, still writing while `remove()` deletes.
    return execFileSync('git', ['-c', 'commit.gpgsign=false', '-c', 'gc.auto=0', '-c', 'maintenance.auto=false', ...args], { cwd: this.dir, env: GIT_ENV }).toString().trim();
  }

  commitAll(message) {
    this.git('add', '-A');
    this.git('commit', '-q', '-m', message);
  }

  write(path, text) {
    const full = join(this.dir, path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
  }

  read(path) {
    return readFileSync(join(this.dir, path), 'utf8');
  }

  remove() {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * Starts `qa-reload serve` on `bind` (default: a port the OS picks), with
 * `env` added to its environment, and resolves once it prints the URL it
 * serves.
 */
export function startServer(repo, bind = '127.0.0.1:0', env = {}) {
  return serve(['--repo', repo.dir, '--bind', bind], env);
}

/**
 * Starts `qa-reload serve --follow` of `repo`'s `main` on a port the OS
 * picks, with a data folder of its own (removed when it stops) and `args`
 * added; resolves once it prints its URL.
 */
export async function startFollower(repo, args = []) {
  const data = mkdtempSync(join(tmpdir(), 'qa-reload-follow-'));
  const server = await serve(['--follow', repo.dir, '--data-dir', data, '--bind', '127.0.0.1:0', ...args], {});
  const stop = server.stop;
  return {
    ...server,
    stop: async () => {
      await stop();
      rmSync(data, { recursive: true, force: true });
    },
  };
}

/**
 * Starts `qa-reload serve` with `args` (e.g. `--follow REMOTE`), with `env`
 * added to its environment, and resolves once it prints the URL it serves.
 */
export function serve(args, env = {}) {
  const proc = spawn(binary(), ['serve', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn', ...env },
  });
  let stderr = '';
  proc.stderr.on('data', (d) => {
    stderr += d;
  });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`qa-reload serve printed no URL in 20 s\nstdout: ${out}\nstderr: ${stderr}`));
    }, 20_000);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`qa-reload serve exited with ${code} before serving\nstderr: ${stderr}`));
    });
    proc.stdout.on('data', (d) => {
      out += d;
      const m = /at (http:\/\/[^\s]+?)\/?\s/.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.removeAllListeners('exit');
        const url = new URL(m[1]);
        resolve({
          url: url.origin,
          port: Number(url.port),
          proc,
          stderr: () => stderr,
          stop: () =>
            new Promise((done) => {
              if (proc.exitCode !== null) return done();
              proc.once('exit', () => done());
              proc.kill('SIGTERM');
            }),
        });
      }
    });
  });
}

/**
 * How long a test waits for what the page should come to show, in ms.
 * Generous: on a loaded two-core machine a debug build can take seconds,
 * and a wait that runs out there says nothing about the page. How fast the
 * page is, the benchmarks measure.
 */
export const WAIT = 30_000;

/** Polls `check` until it returns a truthy value, or fails after `ms`. */
export async function eventually(check, ms = WAIT, what = 'condition') {
  const until = Date.now() + ms;
  let last;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function getJson(base, path) {
  const r = await fetch(base + path);
  if (!r.ok) throw new Error(`${path}: ${r.status}`);
  return r.json();
}

/** A generated workflow: two steps, an integration on every seventh. */
export function generatedWorkflow(i, { name = `Workflow ${i}`, minutes = 10 + (i % 50), extraStep = null } = {}) {
  const lines = [
    `name: ${name}`,
    ...(i % 5 === 0 ? [`description: Generated workflow number ${i}`] : []),
    'steps:',
    '  - id: prepare',
    `    name: Prepare run ${i}`,
    `    estimated_minutes: ${minutes}`,
    ...(i % 7 === 0 ? ['    integration: jira'] : []),
    '  - id: verify',
    `    name: Verify outcome ${i}`,
    '    estimated_minutes: 5',
    ...(extraStep ? [`  - id: ${extraStep}`, `    name: Extra ${extraStep}`, '    estimated_minutes: 3'] : []),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * A temp git repository with `count` generated workflows (`workflows/w<i>.yaml`,
 * id `w<i>`) on `main`, and a branch `switched` where the first `switched`
 * of them are renamed.
 */
export class BigRepo extends Repo {
  constructor(count, switched = 0) {
    super();
    this.count = count;
    this.git('rm', '-q', '-r', 'workflows');
    for (let i = 0; i < count; i++) this.write(`workflows/w${i}.yaml`, generatedWorkflow(i));
    this.commitAll(`${count} workflows`);
    if (switched > 0) {
      this.git('checkout', '-q', '-b', 'switched');
      for (let i = 0; i < switched; i++) this.write(`workflows/w${i}.yaml`, generatedWorkflow(i, { name: `Switched ${i}` }));
      this.commitAll(`rename ${switched} workflows`);
      this.git('checkout', '-q', 'main');
    }
  }
}

/** A seeded generator of numbers in [0, 1) (mulberry32), for replayable random tests. */
export function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Chromium's flags for the tests and the bench. */
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

/** Headless Chromium (playwright-core, loaded here so only the page tests need it). */
export async function launchChromium() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** A page in a fresh context of `browser`: 1280 px wide, `height` tall, with reduced motion. */
export async function newPage(browser, height = 900) {
  const context = await browser.newContext({ viewport: { width: 1280, height }, reducedMotion: 'reduce' });
  return context.newPage();
}

/**
 * What goes wrong on `page` from now on: its uncaught errors (`errors`),
 * the errors it logs to the console (`console`), and how often its main
 * frame navigated (`navigations`; the first load counts one).
 */
export function watchPage(page) {
  const seen = { errors: [], console: [], navigations: 0 };
  page.on('pageerror', (e) => seen.errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') seen.console.push(m.text());
  });
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) seen.navigations += 1;
  });
  return seen;
}

/**
 * Opens the page `server` serves in headless Chromium for test `t`, watched
 * (see `watchPage`) from before it loads. After the test the browser
 * closes, then `cleanup` runs (stop the server, remove the repository).
 */
export async function browse(t, server, cleanup, height = 900) {
  const browser = await launchChromium();
  t.after(async () => {
    await browser.close();
    await cleanup();
  });
  const page = await newPage(browser, height);
  const seen = watchPage(page);
  await page.goto(`${server.url}/`);
  return { browser, page, seen };
}

/** Waits until the page's connection pill reads `live`. */
export function untilLive(page) {
  return page.waitForFunction(() => document.querySelector('#connection')?.textContent === 'live', null, { timeout: WAIT });
}
