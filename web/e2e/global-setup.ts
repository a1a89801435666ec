/**
 * Starts the real system for the end-to-end tests and returns its teardown:
 * `.venv/bin/taptrade run` (cwd: the repository root) with a temporary data dir, a free port,
 * metrics off and TAPTRADE_WEB_DIR = web/dist; waits for "Tap Trading is running at" and /api/healthz;
 * holds the circuit breaker closed (`taptrade breaker closed`) and waits until the simulated feed is
 * healthy (~30 s after start), so bets resolve won/lost instead of void. Teardown: SIGINT, which stops
 * every child of the launcher. The URL reaches the tests as TAPTRADE_E2E_URL.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const WEB = fileURLToPath(new URL('..', import.meta.url));
const REPO = resolve(WEB, '..');
const TAPTRADE = process.env.TAPTRADE_BIN ?? join(REPO, '.venv', 'bin', 'taptrade');
const DIST = join(WEB, 'dist');

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address !== null ? ok(address.port) : fail(new Error('no port'))));
    });
  });
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.once('exit', () => {
      clearTimeout(kill);
      done();
    });
    child.kill('SIGINT');
  });
}

export default async function globalSetup(): Promise<() => Promise<void>> {
  if (!existsSync(join(DIST, 'index.html'))) throw new Error(`${DIST}/index.html is missing: run \`npm run build\` first`);
  const dataDir = mkdtempSync(join(tmpdir(), 'taptrade-e2e-'));
  const port = await freePort();
  const env = {
    ...process.env,
    TAPTRADE_DATA_DIR: dataDir,
    TAPTRADE_PORT: String(port),
    TAPTRADE_LEDGER_METRICS_PORT: '0',
    TAPTRADE_FEED_METRICS_PORT: '0',
    TAPTRADE_WEB_DIR: DIST,
  };
  const child = spawn(TAPTRADE, ['run'], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  const url = `http://127.0.0.1:${port}`;
  const teardown = async () => {
    await stop(child);
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await until('"Tap Trading is running at"', 60_000, async () => {
      if (child.exitCode !== null) return 'exited';
      return output.includes('Tap Trading is running at') ? 'running' : undefined;
    }).then((how) => {
      if (how === 'exited') throw new Error(`taptrade run exited with ${child.exitCode}`);
    });
    await until('/api/healthz', 30_000, async () => ((await fetch(`${url}/api/healthz`)).ok ? true : undefined));
    await promisify(execFile)(TAPTRADE, ['breaker', 'closed'], { cwd: REPO, env });
    await until('a healthy price feed', 90_000, async () => {
      const health = (await (await fetch(`${url}/api/healthz`)).json()) as { checks: { price_feed: { status: string } } };
      return health.checks.price_feed.status === 'healthy' ? true : undefined;
    });
  } catch (error) {
    await teardown();
    throw new Error(`${String(error)}\n--- taptrade run output ---\n${output.slice(-4000)}`);
  }
  process.env.TAPTRADE_E2E_URL = url;
  return teardown;
}
