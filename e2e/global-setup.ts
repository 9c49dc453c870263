// Global setup of the console's browser tests: build opwatch, start three
// 1Password Events API emulators and `opwatch serve` on loopback with a new
// database, read the first admin's one-time password from serve's output,
// add an analyst with `opwatch users add`, and hand all of it to the tests
// in OPWATCH_E2E_STATE. The returned function stops what was started.
//
// Everything lives in e2e/.run (the binary, the database and its key, each
// process's log), which is wiped at the next start and kept after a run so
// that a failure can be read in serve.log.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FullConfig } from '@playwright/test';
import type { State } from './tests/fixtures';

const root = path.resolve(__dirname, '..');
const runDir = path.join(__dirname, '.run');
const pidFile = path.join(runDir, 'pids');

// How long a process may take to say it is ready. Not an assertion on
// opwatch's speed: a guard so that a process that never starts fails the
// run instead of hanging it.
const startupLimitMs = 120_000;

export default async function globalSetup(_config: FullConfig): Promise<() => Promise<void>> {
  stopLeftovers();
  fs.rmSync(runDir, { recursive: true, force: true });
  fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });

  const bin = process.env.OPWATCH_E2E_BIN || path.join(runDir, 'opwatch');
  if (!process.env.OPWATCH_E2E_BIN) {
    const b = spawnSync('go', ['build', '-o', bin, './cmd/opwatch'], { cwd: root, stdio: 'inherit', env: childEnv() });
    if (b.status !== 0) throw new Error(`go build ./cmd/opwatch failed (exit ${b.status}): see its output above`);
  }

  const started: ChildProcess[] = [];
  const stop = async () => {
    for (const p of started.reverse()) await stopProcess(p);
    fs.rmSync(pidFile, { force: true });
    console.log(`opwatch e2e: logs in ${path.relative(process.cwd(), runDir) || '.'}/ (serve.log, emulator*.log)`);
  };
  try {
    // The account the wizard sets up: every log type, planted attacks for
    // the detections (2,000 events of each type over the past day hold a
    // few), and live traffic after.
    const emu = await startEmulator(bin, 'emulator', ['--scenarios', '--events', '2000', '--rate', '30', '--seed', '42'], started);
    // Another account whose token grants sign-in attempts only.
    const partial = await startEmulator(bin, 'emulator-partial',
      ['--features', 'signinattempts', '--events', '100', '--rate', '0', '--seed', '7'], started);
    // And one whose token grants no feature at all, which the wizard refuses.
    const none = await startEmulator(bin, 'emulator-none',
      ['--features', 'none', '--events', '10', '--rate', '0', '--seed', '8'], started);

    const db = path.join(runDir, 'opwatch.db');
    const serve = await startServe(bin, db, started);

    const analyst = { name: 'analyst', password: 'e2e-' + randomBytes(18).toString('base64url') };
    const add = spawnSync(bin, ['users', 'add', analyst.name, '--role', 'analyst', '--password-file', '-', '--db', db],
      { input: analyst.password + '\n', env: childEnv(), encoding: 'utf8' });
    if (add.status !== 0) throw new Error(`opwatch users add ${analyst.name} failed (exit ${add.status}): ${add.stderr}`);

    const state: State = {
      url: serve.url,
      admin: { name: 'admin', password: serve.password },
      analyst,
      emulator: emu,
      partial,
      none,
    };
    process.env.OPWATCH_E2E_STATE = JSON.stringify(state);
    console.log(`opwatch e2e: console ${serve.url}, emulators ${emu.baseURL}, ${partial.baseURL} and ${none.baseURL}`);
  } catch (err) {
    await stop();
    throw err;
  }
  return stop;
}

// childEnv is this environment without the settings that would point the
// processes at another database or key.
function childEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['OPWATCH_DB', 'OPWATCH_KEY_FILE', 'OPWATCH_SECRET_KEY', 'OPWATCH_LOG_FORMAT', 'OPWATCH_E2E_STATE']) delete env[k];
  return env;
}

function track(p: ChildProcess, started: ChildProcess[]) {
  started.push(p);
  if (p.pid) fs.appendFileSync(pidFile, `${p.pid}\n`);
}

// stopLeftovers ends processes of an earlier run that died before its
// teardown: only those listed in its pid file and still running our binary.
function stopLeftovers() {
  let pids: string[];
  try {
    pids = fs.readFileSync(pidFile, 'utf8').split('\n').filter(Boolean);
  } catch {
    return;
  }
  for (const pid of pids) {
    try {
      const cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmd.includes(runDir)) process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already
    }
  }
}

// lines calls f with each line of a stream until f returns true.
function lines(stream: NodeJS.ReadableStream, log: fs.WriteStream, f: (line: string) => boolean) {
  let buf = '';
  let done = false;
  stream.on('data', (chunk: Buffer) => {
    log.write(chunk);
    if (done) return;
    buf += chunk.toString('utf8');
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (f(line)) {
        done = true;
        return;
      }
    }
  });
}

// ready resolves with what wait finds, and rejects when the process exits
// first or takes longer than startupLimitMs.
function ready<T>(p: ChildProcess, what: string, logPath: string, wait: (resolve: (v: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start within ${startupLimitMs / 1000}s: see ${logPath}`)), startupLimitMs);
    p.once('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code ?? sig}) before it was ready:\n${tail(logPath)}`));
    });
    p.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`${what} could not be started: ${err.message}`));
    });
    wait((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '(no log)';
  }
}

// startEmulator starts `opwatch emulator` and reads the JSON line it prints:
// its base URL and a token.
async function startEmulator(bin: string, name: string, args: string[], started: ChildProcess[]) {
  const logPath = path.join(runDir, `${name}.log`);
  const log = fs.createWriteStream(logPath);
  const p = spawn(bin, ['emulator', '--listen', '127.0.0.1:0', ...args], { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  track(p, started);
  p.stderr!.pipe(log);
  return ready<{ baseURL: string; token: string }>(p, `opwatch emulator (${name})`, logPath, (resolve) => {
    lines(p.stdout!, fs.createWriteStream('/dev/null'), (line) => {
      try {
        const v = JSON.parse(line);
        if (v.base_url && v.token) {
          resolve({ baseURL: v.base_url, token: v.token });
          return true;
        }
      } catch {
        // not the line
      }
      return false;
    });
  });
}

// startServe starts `opwatch serve` on a free loopback port and reads the
// first admin's one-time password from its output and the address from its
// log.
async function startServe(bin: string, db: string, started: ChildProcess[]) {
  const logPath = path.join(runDir, 'serve.log');
  const log = fs.createWriteStream(logPath);
  const p = spawn(bin, ['serve', '--db', db, '--listen', '127.0.0.1:0', '--log-format', 'json'],
    { env: childEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  track(p, started);
  // The one-time password is on stdout, which goes nowhere else (the log
  // of the run must not keep it).
  const password = ready<string>(p, 'opwatch serve (its first admin)', logPath, (resolve) => {
    let next = false;
    lines(p.stdout!, fs.createWriteStream('/dev/null'), (line) => {
      if (line.includes('with this password')) next = true;
      else if (next && line.trim() !== '') {
        resolve(line.trim());
        return true;
      }
      return false;
    });
  });
  const url = ready<string>(p, 'opwatch serve (its listener)', logPath, (resolve) => {
    lines(p.stderr!, log, (line) => {
      try {
        const rec = JSON.parse(line);
        if (rec.msg === 'opwatch serving' && typeof rec.listen === 'string') {
          resolve(`http://${rec.listen}`);
          return true;
        }
      } catch {
        // a line that is not JSON (a panic): kept in the log
      }
      return false;
    });
  });
  const [pw, u] = await Promise.all([password, url]);
  // The listener is bound before the log line; /healthz proves the server
  // answers.
  const res = await fetch(`${u}/healthz`);
  if (!res.ok) throw new Error(`${u}/healthz answered ${res.status}: see ${logPath}`);
  return { url: u, password: pw };
}

// stopProcess asks a process to stop (SIGTERM: serve and the emulator shut
// down cleanly) and kills it if it has not within 20 s.
async function stopProcess(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      p.kill('SIGKILL');
    }, 20_000);
    p.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    p.kill('SIGTERM');
  });
}
