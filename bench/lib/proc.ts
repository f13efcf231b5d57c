// Child processes the harness owns: start one, wait for its ready signal, read its RSS, stop it and its children.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/** A running child process started by the harness. */
export interface Service {
  readonly name: string;
  readonly child: ChildProcess;
  /** The line that matched `readyLine` (empty when readiness was probed otherwise). */
  readonly readyText: string;
  /** Last lines of stdout and stderr, for error messages. */
  tail(): string;
  /** SIGTERM, then SIGKILL to the whole process tree after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** How to start a service and recognise that it is ready. */
export interface ServiceSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  /** A line on stdout or stderr that means "ready"; the whole line is returned. */
  readonly readyLine?: RegExp;
  /** Or an async probe retried until it resolves true. */
  readonly probe?: () => Promise<boolean>;
  readonly timeoutMs?: number;
}

const TAIL_LINES = 20;

/** Starts `spec` and resolves once it is ready; rejects with the process's last output if it exits or times out. */
export function startService(spec: ServiceSpec): Promise<Service> {
  const child = spawn(spec.command, [...spec.args], {
    env: { ...process.env, ...spec.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let readyText = '';
  let onLine: ((line: string) => void) | undefined;
  const collect = (stream: NodeJS.ReadableStream | null): void => {
    let partial = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        if (lines.length > TAIL_LINES) lines.shift();
        onLine?.(line);
      }
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  const tail = (): string => lines.join('\n').trim();
  let exited = child.exitCode !== null;
  const exitPromise = new Promise<void>((resolveExit) => {
    child.once('exit', () => {
      exited = true;
      resolveExit();
    });
  });
  const service: Service = {
    name: spec.name,
    child,
    get readyText() {
      return readyText;
    },
    tail,
    async stop(graceMs = 3000) {
      if (exited || child.pid === undefined) return;
      const tree = descendants(child.pid);
      child.kill('SIGTERM');
      const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
      if ((await Promise.race([exitPromise, timer])) === 'timeout') {
        child.kill('SIGKILL');
        await exitPromise;
      }
      for (const pid of tree) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone: the usual case
        }
      }
    },
  };
  const timeoutMs = spec.timeoutMs ?? 15000;
  return new Promise<Service>((resolveReady, reject) => {
    let settled = false;
    const fail = (why: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void service.stop(500).then(() => {
        const out = tail();
        reject(
          new Error(`${spec.name} ${why}${out === '' ? '' : `: ${out.split('\n').slice(-3).join(' | ')}`}`),
        );
      });
    };
    const succeed = (): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolveReady(service);
    };
    const timer = setTimeout(() => fail(`not ready after ${timeoutMs} ms`), timeoutMs);
    child.once('error', (err) => fail(`failed to start (${err.message})`));
    child.once('exit', (code, signal) => fail(`exited before ready (code ${code}, signal ${signal})`));
    if (spec.readyLine !== undefined) {
      const pattern = spec.readyLine;
      onLine = (line) => {
        if (!settled && pattern.test(line)) {
          readyText = line;
          succeed();
        }
      };
    } else if (spec.probe !== undefined) {
      const probe = spec.probe;
      const poll = (): void => {
        if (settled) return;
        probe().then(
          (ok) => (ok ? succeed() : setTimeout(poll, 50)),
          () => setTimeout(poll, 50),
        );
      };
      poll();
    } else {
      succeed();
    }
  });
}

/** Parent pid of every process, read from /proc (Linux). */
function parentMap(): Map<number, number[]> {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // the command name may contain spaces: fields resume after the last ')'
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(fields[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // the process exited while we looked
    }
  }
  return children;
}

/** Every descendant pid of `pid` (node:cluster workers, shells' children). */
export function descendants(pid: number): number[] {
  const children = parentMap();
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    for (const c of children.get(stack.pop()!) ?? []) {
      out.push(c);
      stack.push(c);
    }
  }
  return out;
}

/** Resident set size in bytes of `pid` plus all its descendants. */
export function treeRssBytes(pid: number): number {
  let total = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (match) total += Number(match[1]) * 1024;
    } catch {
      // exited
    }
  }
  return total;
}

/** Runs a command to completion and returns its stdout; rejects with stderr on a non-zero exit. */
export function runCommand(command: string, args: readonly string[], timeoutMs = 120000): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${command}: ${e.message}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolveRun(out);
      else reject(new Error(`${command} exited ${code}: ${(err || out).trim().slice(0, 300)}`));
    });
  });
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Clock ticks per second of /proc's utime and stime (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = 100;

/** CPU seconds (user + system) used so far by `pid` and its descendants (node:cluster workers), from /proc. */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const each of [pid, ...descendants(pid)]) {
    try {
      const stat = readFileSync(`/proc/${each}/stat`, 'utf8');
      // after the command name: state, ppid, … utime and stime are the 12th and 13th fields
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // the process exited while we looked
    }
  }
  return ticks / CLOCK_TICKS;
}
