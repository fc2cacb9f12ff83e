/**
 * The processes the forwarder benchmark starts, and what it reads about them from /proc.
 *
 * Every process is started through `Processes`, which remembers it and, on `stopAll()` (called
 * on exit, on a signal and when the run's deadline passes), stops it and every process it has
 * started itself (a forwarder's workers): SIGTERM, then SIGKILL after a grace period. Nothing
 * else is ever signalled.
 *
 * CPU and memory are read from /proc, so that a load generator that saturates first does not hide
 * the proxy's own cost: CPU time is utime + stime of the process and of its live descendants
 * (the forwarder's workers), plus the children it has already reaped (cutime + cstime).
 */
import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { delay } from "../../test/support/wait";

const CLOCK_TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux the project runs on

export interface Started {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Resolves with the exit code (or the signal name) when the process exits. */
  readonly exited: Promise<number | string>;
  /** Everything the process wrote to stdout and stderr (bounded to the last 64 KiB). */
  output(): string;
}

export interface StartOptions {
  /** CPUs to pin the process (and everything it starts) to, e.g. "0". */
  readonly cpus?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

const OUTPUT_LIMIT = 64 * 1024;

export class Processes {
  private readonly running = new Set<Started>();

  start(name: string, command: string, args: readonly string[], opts: StartOptions = {}): Started {
    const [file, argv] = opts.cpus === undefined ? [command, [...args]] : ["taskset", ["-c", opts.cpus, command, ...args]];
    const spawnOpts: SpawnOptions = { stdio: ["ignore", "pipe", "pipe"], env: opts.env ?? process.env, cwd: opts.cwd };
    const child = spawn(file, argv, spawnOpts);
    if (child.pid === undefined) throw new Error(`cannot start ${name} (${command})`);
    let out = "";
    const keep = (chunk: Buffer): void => {
      out += chunk.toString("utf8");
      if (out.length > OUTPUT_LIMIT) out = out.slice(out.length - OUTPUT_LIMIT);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    const exited = new Promise<number | string>((resolve) => {
      child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
      child.once("error", (err) => resolve(err.message));
    });
    const started: Started = { name, child, pid: child.pid, exited, output: () => out };
    this.running.add(started);
    void exited.then(() => this.running.delete(started));
    return started;
  }

  /**
   * `p`, measured and signalled as process `pid` instead: a container's first process, while `p`
   * (e.g. `docker logs --follow`) carries its output and ends when it does.
   */
  retarget(p: Started, pid: number): Started {
    const q: Started = { ...p, pid };
    this.running.delete(p);
    this.running.add(q);
    void q.exited.then(() => this.running.delete(q));
    return q;
  }

  /** Runs a command to its end (killed after `timeoutMs`); resolves with its output and exit code. */
  async run(
    name: string,
    command: string,
    args: readonly string[],
    opts: StartOptions & { timeoutMs: number },
  ): Promise<{ code: number | string; output: string }> {
    const p = this.start(name, command, args, opts);
    const timer = setTimeout(() => void this.stop(p), opts.timeoutMs);
    const code = await p.exited;
    clearTimeout(timer);
    return { code, output: p.output() };
  }

  /** Stops `p` and the processes it started: SIGTERM, then SIGKILL after `graceMs`. */
  async stop(p: Started, graceMs = 3000): Promise<void> {
    if (!this.running.has(p)) return;
    const family = [p.pid, ...descendants(p.pid)];
    signal(p.pid, "SIGTERM");
    const done = await Promise.race([p.exited.then(() => true), delay(graceMs).then(() => false)]);
    for (const pid of family) {
      if (!done || pid !== p.pid) signal(pid, "SIGKILL");
    }
    await p.exited;
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.running].map((p) => this.stop(p)));
  }

  /** Synchronous last resort (process 'exit'): SIGKILL everything still running. */
  killAllNow(): void {
    for (const p of this.running) {
      for (const pid of [p.pid, ...descendants(p.pid)]) signal(pid, "SIGKILL");
    }
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  /** utime + stime, in clock ticks. */
  readonly ticks: number;
  /** cutime + cstime (reaped children), in clock ticks. */
  readonly childTicks: number;
}

function readStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: fields resume after the last ')'.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state): field N is fields[N - 3].
  return {
    pid,
    ppid: Number(fields[1]),
    ticks: Number(fields[11]) + Number(fields[12]),
    childTicks: Number(fields[13]) + Number(fields[14]),
  };
}

/** Every live process below `pid` (children, their children, ...). */
export function descendants(pid: number): number[] {
  const byParent = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat === undefined) continue;
    const siblings = byParent.get(stat.ppid);
    if (siblings === undefined) byParent.set(stat.ppid, [stat.pid]);
    else siblings.push(stat.pid);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const children = byParent.get(queue.shift() as number) ?? [];
    out.push(...children);
    queue.push(...children);
  }
  return out;
}

/**
 * CPU seconds used so far by `pid` and its descendants, reaped ones included. A taskset wrapper
 * execs its command, so the pid is the proxy's own.
 */
export function cpuSeconds(pid: number): number {
  const root = readStat(pid);
  if (root === undefined) return NaN;
  let ticks = root.ticks + root.childTicks;
  for (const child of descendants(pid)) {
    // A reaped child's time is in its parent's childTicks; a live one's in its own ticks.
    ticks += readStat(child)?.ticks ?? 0;
  }
  return ticks / CLOCK_TICKS_PER_SECOND;
}

/** Resident memory of `pid` and its live descendants, in bytes. */
export function rssBytes(pid: number): number {
  let total = 0;
  for (const p of [pid, ...descendants(pid)]) {
    try {
      const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${p}/status`, "utf8"));
      if (match) total += Number(match[1]) * 1024;
    } catch {
      // exited meanwhile
    }
  }
  return total;
}

/** The hard limit on open files of this process (children inherit it). */
export function openFilesLimit(): number {
  const match = /^Max open files\s+\d+\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
  return match ? Number(match[1]) : 1024;
}
