// Peer for `cargo bench --bench save_vs_vite`: a Vite 6 dev server with one
// module that accepts its own hot updates. The module is requested once so
// it is in Vite's module graph; then this prints one JSON line
// `{"port":…,"token":"…","file":"…"}` and serves until stdin closes. The
// bench writes the file and times Vite's HMR `update` message on its own
// WebSocket client (protocol `vite-hmr`, `?token=`).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'vite';

const root = mkdtempSync(join(tmpdir(), 'qa-reload-vite-peer-'));
const file = join(root, 'main.js');
writeFileSync(join(root, 'index.html'), '<script type="module" src="/main.js"></script>\n');
writeFileSync(file, 'export const value = 0;\nif (import.meta.hot) import.meta.hot.accept();\n');

const server = await createServer({
  root,
  configFile: false,
  logLevel: 'silent',
  clearScreen: false,
  optimizeDeps: { noDiscovery: true, include: [] },
  server: { host: '127.0.0.1', port: 0, strictPort: false },
});
await server.listen();
const { port } = server.httpServer.address();
const response = await fetch(`http://127.0.0.1:${port}/main.js`);
if (!response.ok) throw new Error(`main.js: HTTP ${response.status}`);
await response.text();
console.log(JSON.stringify({ port, token: server.config.webSocketToken, file }));

process.stdin.resume();
process.stdin.on('end', async () => {
  await server.close();
  rmSync(root, { recursive: true, force: true });
  process.exit(0);
});
