// One supervised control-plane process: its output goes to a log file in the run's folder, its exit
// is noticed at once (with the last lines of that log, so a crash explains itself), and it cannot
// outlive us: on Linux it is started under `setpriv --pdeathsig KILL`, so the kernel kills it when
// the process that started it dies, even by SIGKILL.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { appendFileSync, openSync, closeSync, readFileSync, existsSync } from 'node:fs';

let pdeathsig: boolean | undefined;
/** Whether `setpriv --pdeathsig` works here (util-linux ≥ 2.33). */
function hasPdeathsig(): boolean {
  if (pdeathsig === undefined) {
    const r = spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore' });
    pdeathsig = !r.error && r.status === 0;
  }
  return pdeathsig;
}

/** The last `lines` lines of a log file (empty when it does not exist). */
export function logTail(path: string, lines = 30): string {
  if (!existsSync(path)) return '';
  const text = readFileSync(path, 'utf8');
  return text
    .split('\n')
    .slice(-lines - 1)
    .join('\n')
    .trimEnd();
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ManagedProcess {
  private readonly child: ChildProcess;
  private exitInfo: ExitInfo | undefined;
  private stopping = false;
  readonly exited: Promise<ExitInfo>;

  constructor(
    readonly name: string,
    binary: string,
    args: string[],
    readonly logPath: string,
    onUnexpectedExit: (p: ManagedProcess, info: ExitInfo) => void,
  ) {
    const fd = openSync(logPath, 'a');
    const [command, argv] = hasPdeathsig()
      ? ['setpriv', ['--pdeathsig', 'KILL', '--', binary, ...args]]
      : [binary, args];
    try {
      this.child = spawn(command, argv, { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    this.exited = new Promise((resolve) => {
      this.child.once('error', (err) => {
        // spawn failed (binary missing, not executable): report it as an exit, its reason in the log.
        appendFileSync(logPath, `could not start ${binary}: ${err.message}\n`);
        this.exitInfo ??= { code: 127, signal: null };
        resolve(this.exitInfo);
        if (!this.stopping) onUnexpectedExit(this, this.exitInfo);
      });
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
        if (!this.stopping) onUnexpectedExit(this, this.exitInfo);
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  running(): boolean {
    return this.exitInfo === undefined;
  }

  /** Why it stopped, with the tail of its log. */
  describeExit(): string {
    const info = this.exitInfo;
    const how = !info
      ? 'is running'
      : info.signal
        ? `was killed by ${info.signal}`
        : `exited with code ${info.code}`;
    const tail = logTail(this.logPath);
    return `${this.name} ${how}; last lines of ${this.logPath}:\n${tail || '(empty)'}`;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 5_000): Promise<void> {
    this.stopping = true;
    if (!this.running()) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Synchronous last resort (process exit handlers cannot wait). */
  killNow(): void {
    this.stopping = true;
    if (this.running()) this.child.kill('SIGKILL');
  }
}
