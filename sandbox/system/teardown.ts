// What a system started, to be stopped in the reverse order: the part started last depends on the ones
// before it (components on the API server, the API server's callers before the API server). Every step
// is bounded, so that one part that does not stop (a connection nobody closes, a process that ignores
// SIGTERM) cannot hang the rest, and every step runs even when one before it failed: nothing may
// outlive its owner. What failed or hung is then named, step by step.

export interface TeardownFailure {
  step: string;
  /** What the step threw; absent when it did not finish in its time. */
  error?: unknown;
  /** `not done after N ms`, or the error as text. */
  message: string;
}

export const DEFAULT_STEP_LIMIT_MS = 30_000;

interface Step {
  name: string;
  run: () => unknown;
  limitMs: number;
}

export class Teardown {
  private steps: Step[] = [];
  private stopping: Promise<TeardownFailure[]> | undefined;

  /**
   * @param onFailure called with each step that failed or hung, as it happens (a log line: a test's
   *   logger is usually silent, so the caller may also print it).
   */
  constructor(private readonly onFailure: (f: TeardownFailure) => void = () => undefined) {}

  /** Registers `run` to be called by stop(), before every step registered earlier. */
  defer(name: string, run: () => unknown, limitMs = DEFAULT_STEP_LIMIT_MS): void {
    if (this.stopping) throw new Error(`teardown already ran: cannot register "${name}"`);
    this.steps.push({ name, run, limitMs });
  }

  /** The registered steps' names, in the order stop() runs them. */
  pending(): string[] {
    return this.steps.map((s) => s.name).reverse();
  }

  /** Runs every step, last registered first; once (later calls get the same result). */
  stop(): Promise<TeardownFailure[]> {
    this.stopping ??= this.runAll();
    return this.stopping;
  }

  private async runAll(): Promise<TeardownFailure[]> {
    const failures: TeardownFailure[] = [];
    const steps = this.steps.reverse();
    this.steps = [];
    for (const step of steps) {
      const failure = await runBounded(step);
      if (failure) {
        failures.push(failure);
        this.onFailure(failure);
      }
    }
    return failures;
  }
}

async function runBounded(step: Step): Promise<TeardownFailure | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<TeardownFailure>((resolve) => {
    timer = setTimeout(
      () => resolve({ step: step.name, message: `not done after ${step.limitMs} ms` }),
      step.limitMs,
    );
  });
  try {
    return await Promise.race([
      Promise.resolve()
        .then(step.run)
        .then(
          () => undefined,
          (error: unknown) => ({ step: step.name, error, message: String(error) }),
        ),
      timedOut,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** `step: message; step: message` */
export function describeFailures(failures: TeardownFailure[]): string {
  return failures.map((f) => `${f.step}: ${f.message}`).join('; ');
}
