// One way to run a long-running component (pubsub, webhook, reconciler): the handle its start
// function returns, SIGTERM/SIGINT handling, a hard shutdown deadline, and the exit codes, which
// README.md documents ("Exit codes").
import { CommanderError } from 'commander';
import type { Logger } from './logger.js';
import { ConfigError } from './ops-server.js';

/** What every start function returns. */
export interface Component {
  /** Base URL of /healthz, /readyz and /metrics ('' without an ops server). */
  readonly opsUrl: string;
  /** true, or why the component is not ready (what /readyz says). */
  ready(): true | string;
  /** Stops as on SIGTERM: work in flight gets the component's own grace period. */
  stop(): Promise<void>;
}

/**
 * The product's exit codes. 1 is never used: the sandbox exits 1 when a session was lost, and a
 * script running both must not mistake a component's failure for that. 2 and 3 mean what they mean
 * for the sandbox.
 */
export const EXIT = {
  /** Stopped on SIGTERM/SIGINT, everything finished in time (also `--help`, `--version`). */
  ok: 0,
  /** An unknown flag or an invalid setting: nothing was started. */
  invalidConfiguration: 2,
  /** The configuration was valid but the component could not start (port taken, API unreachable...). */
  failedToStart: 3,
  /** Stopping took longer than the hard shutdown deadline: the process was cut short. */
  shutdownDeadlineExceeded: 4,
  /** A fatal error after start (an uncaught error, or stop() failed). */
  failed: 5,
} as const;

/** The exit code for an error that ended a command before its component ran. */
export function exitCodeForError(err: unknown): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.invalidConfiguration;
  if (err instanceof ConfigError) return EXIT.invalidConfiguration;
  return EXIT.failedToStart;
}

/** The parts of `process` runComponent uses (tests pass their own). */
export interface ProcessLike {
  once(event: 'SIGTERM' | 'SIGINT', listener: () => void): unknown;
  on(event: 'uncaughtException' | 'unhandledRejection', listener: (err: unknown) => void): unknown;
  exit(code: number): void;
}

export interface RunOptions {
  /** For log messages: `<name>: shutting down`. */
  name: string;
  logger: Logger;
  component: Component;
  /**
   * After the first signal, the process exits with EXIT.shutdownDeadlineExceeded if stop() has not
   * finished by then. Keep it below the pod's terminationGracePeriodSeconds (30 s by default), so the
   * process leaves on its own terms rather than being killed.
   */
  shutdownDeadlineMs: number;
  process?: ProcessLike;
  /** Timers (tests pass fake ones). */
  setTimer?: (fn: () => void, ms: number) => { unref?: () => unknown };
}

/**
 * Waits for SIGTERM or SIGINT, stops the component and exits: 0 when it stopped in time,
 * EXIT.shutdownDeadlineExceeded when the deadline came first, EXIT.failed when stop() failed or an
 * error escaped after start. Resolves with the code it exited with.
 */
export function runComponent(options: RunOptions): Promise<number> {
  const proc = options.process ?? process;
  const setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
  const { logger, name } = options;
  return new Promise<number>((resolve) => {
    let exited = false;
    const exit = (code: number) => {
      if (exited) return;
      exited = true;
      proc.exit(code);
      resolve(code);
    };
    proc.on('uncaughtException', (err) => {
      logger.fatal({ err }, `${name}: fatal error`);
      exit(EXIT.failed);
    });
    proc.on('unhandledRejection', (err) => {
      logger.fatal({ err }, `${name}: fatal error (unhandled rejection)`);
      exit(EXIT.failed);
    });
    let stopping = false;
    const shutdown = (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal, deadlineMs: options.shutdownDeadlineMs }, `${name}: shutting down`);
      setTimer(() => {
        logger.error(
          { deadlineMs: options.shutdownDeadlineMs },
          `${name}: shutdown took longer than its deadline; exiting`,
        );
        exit(EXIT.shutdownDeadlineExceeded);
      }, options.shutdownDeadlineMs).unref?.();
      options.component.stop().then(
        () => exit(EXIT.ok),
        (err: unknown) => {
          logger.error({ err }, `${name}: shutdown failed`);
          exit(EXIT.failed);
        },
      );
    };
    proc.once('SIGTERM', () => shutdown('SIGTERM'));
    proc.once('SIGINT', () => shutdown('SIGINT'));
  });
}
