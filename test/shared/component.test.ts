// One way to run a component: signals, the hard shutdown deadline and the exit codes.
import { describe, expect, it } from '@jest/globals';
import { CommanderError } from 'commander';
import { pino } from 'pino';
import {
  EXIT,
  exitCodeForError,
  runComponent,
  type Component,
  type ProcessLike,
} from '../../shared/component.js';
import { ConfigError } from '../../shared/ops-server.js';

const silent = pino({ level: 'silent' });

/** A process whose signals, exits and timers the test drives. */
function fakeProcess() {
  const listeners = new Map<string, (arg?: unknown) => void>();
  const exits: number[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const proc: ProcessLike = {
    once: (event, fn) => listeners.set(event, fn),
    on: (event, fn) => listeners.set(event, fn as (arg?: unknown) => void),
    exit: (code) => exits.push(code),
  };
  const setTimer = (fn: () => void, ms: number) => (timers.push({ fn, ms }), {});
  return {
    proc,
    setTimer,
    exits,
    timers,
    emit: (event: string, arg?: unknown) => listeners.get(event)?.(arg),
  };
}

function component(stop: () => Promise<void>): Component & { stops: number } {
  const c = {
    opsUrl: 'http://127.0.0.1:1',
    stops: 0,
    ready: () => true as const,
    stop: () => (c.stops++, stop()),
  };
  return c;
}

describe('runComponent', () => {
  it('stops on SIGTERM and exits 0 once stopped; a second signal does not stop it twice', async () => {
    const p = fakeProcess();
    let finish!: () => void;
    const c = component(() => new Promise<void>((r) => (finish = r)));
    const done = runComponent({
      name: 't',
      logger: silent,
      component: c,
      shutdownDeadlineMs: 5000,
      ...p,
      process: p.proc,
    });
    expect(c.stops).toBe(0);
    p.emit('SIGTERM');
    p.emit('SIGINT');
    expect(c.stops).toBe(1);
    expect(p.timers.map((t) => t.ms)).toEqual([5000]);
    expect(p.exits).toEqual([]);
    finish();
    expect(await done).toBe(EXIT.ok);
    expect(p.exits).toEqual([0]);
    p.timers[0]!.fn(); // the deadline passing afterwards changes nothing
    expect(p.exits).toEqual([0]);
  });

  it('exits 4 when stopping outlasts the deadline', async () => {
    const p = fakeProcess();
    const c = component(() => new Promise<void>(() => {}));
    const done = runComponent({
      name: 't',
      logger: silent,
      component: c,
      shutdownDeadlineMs: 100,
      ...p,
      process: p.proc,
    });
    p.emit('SIGINT');
    p.timers[0]!.fn();
    expect(await done).toBe(EXIT.shutdownDeadlineExceeded);
    expect(p.exits).toEqual([4]);
  });

  it('exits 5 when stop() fails or an error escapes after start', async () => {
    const p = fakeProcess();
    const c = component(() => Promise.reject(new Error('boom')));
    const done = runComponent({
      name: 't',
      logger: silent,
      component: c,
      shutdownDeadlineMs: 100,
      ...p,
      process: p.proc,
    });
    p.emit('SIGTERM');
    expect(await done).toBe(EXIT.failed);

    const q = fakeProcess();
    const crashed = runComponent({
      name: 't',
      logger: silent,
      component: component(() => Promise.resolve()),
      shutdownDeadlineMs: 100,
      ...q,
      process: q.proc,
    });
    q.emit('uncaughtException', new Error('bug'));
    expect(await crashed).toBe(EXIT.failed);
    expect(q.exits).toEqual([5]);
  });
});

describe('exit codes', () => {
  it('never uses 1 (the sandbox: a session was lost); configuration 2, start failures 3', () => {
    expect(Object.values(EXIT)).not.toContain(1);
    expect(new Set(Object.values(EXIT)).size).toBe(Object.values(EXIT).length);
    expect(exitCodeForError(new ConfigError('--x (X)', 'bad'))).toBe(2);
    expect(exitCodeForError(new CommanderError(1, 'commander.unknownOption', 'unknown option'))).toBe(2);
    expect(exitCodeForError(new CommanderError(0, 'commander.helpDisplayed', '(outputHelp)'))).toBe(0);
    expect(exitCodeForError(new Error('EADDRINUSE'))).toBe(3);
  });
});
