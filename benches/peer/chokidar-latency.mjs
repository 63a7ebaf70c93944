// Peer for `cargo bench --bench engine` figure 4: how soon a plain file
// watcher reports a save when it debounces like qa-reload does (a 50 ms
// quiet period after the last event). chokidar watches a folder of 100
// workflow files; 100 saves 150 ms apart; time from the write to the end of
// the quiet period. Prints one line: `p50 <ms> p99 <ms>`.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { watch } from 'chokidar';

const QUIET_MS = 50;
const SAVES = 100;
const root = mkdtempSync(join(tmpdir(), 'qa-reload-peer-'));
const dir = join(root, 'workflows');
mkdirSync(dir);
const file = (i) => join(dir, `w${String(i).padStart(5, '0')}.yaml`);
const body = (name) => `name: ${name}\nsteps:\n  - id: a\n    name: A\n    estimated_minutes: 5\n`;
for (let i = 0; i < 100; i++) writeFileSync(file(i), body(`Workflow ${i}`));

const watcher = watch(dir, { ignoreInitial: true });
await new Promise((resolve) => watcher.on('ready', resolve));

let timer = null;
let fired = null;
watcher.on('all', () => {
  clearTimeout(timer);
  timer = setTimeout(() => fired?.(), QUIET_MS);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const times = [];
for (let i = 0; i < SAVES; i++) {
  await sleep(150);
  const done = new Promise((resolve) => { fired = resolve; });
  const start = process.hrtime.bigint();
  writeFileSync(file(i % 100), body(`Workflow saved ${i}`));
  await done;
  times.push(Number(process.hrtime.bigint() - start) / 1e6);
}
await watcher.close();
rmSync(root, { recursive: true, force: true });
times.sort((a, b) => a - b);
const at = (p) => times[Math.min(times.length - 1, Math.round((times.length - 1) * p))];
console.log(`p50 ${at(0.5).toFixed(1)} p99 ${at(0.99).toFixed(1)}`);
