import { describe, expect, it } from '@jest/globals';
import {
  parseStatusMessage,
  signStatusMessage,
  latestStatusKey,
  statusChannel,
} from '../shared/status-message.js';

const base = {
  GameServerGroupName: 'agones-game-servers',
  GameServerGroupArn: 'arn:aws:gamelift:us-east-1:123456789012:gameservergroup/agones-game-servers',
  InstanceId: 'i-0123456789abcdef0',
  InstanceStatus: 'DRAINING' as const,
  ObservedAt: '2026-11-21T10:00:00.000Z',
  Sequence: 7,
};

describe('status message', () => {
  it('keeps the first seed channel name and a documented latest-status key', () => {
    expect(statusChannel('i-0123456789abcdef0')).toBe('i-0123456789abcdef0');
    expect(latestStatusKey('i-0123456789abcdef0')).toBe('fleetiq:instance-status:i-0123456789abcdef0');
  });

  it('accepts a signed message with the right secret whatever its key order', () => {
    const signed = signStatusMessage(base, 's3cret');
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(signed).reverse()));
    const r = parseStatusMessage(reordered, 's3cret');
    expect(r).toEqual({ ok: true, message: signed });
  });

  it('rejects unsigned, wrongly signed and tampered messages when signing is on', () => {
    expect(parseStatusMessage(JSON.stringify(base), 's3cret')).toEqual({
      ok: false,
      error: expect.stringMatching(/unsigned/),
    });
    const signed = signStatusMessage(base, 'other');
    expect(parseStatusMessage(JSON.stringify(signed), 's3cret')).toEqual({
      ok: false,
      error: 'bad signature',
    });
    const tampered = { ...signStatusMessage(base, 's3cret'), InstanceStatus: 'ACTIVE' };
    expect(parseStatusMessage(JSON.stringify(tampered), 's3cret')).toEqual({
      ok: false,
      error: 'bad signature',
    });
    expect(parseStatusMessage(JSON.stringify({ ...signed, Signature: 'zz' }), 's3cret').ok).toBe(false);
  });

  it('accepts unsigned messages when signing is off, and rejects what is malformed', () => {
    expect(parseStatusMessage(JSON.stringify(base)).ok).toBe(true);
    for (const raw of [
      '',
      '{',
      '[]',
      'null',
      '"x"',
      JSON.stringify({ ...base, InstanceStatus: 'GONE' }),
      JSON.stringify({ ...base, Sequence: -1 }),
      JSON.stringify({ ...base, InstanceId: '' }),
      JSON.stringify({ ...base, ObservedAt: 'yesterday' }),
    ]) {
      expect(parseStatusMessage(raw).ok).toBe(false);
    }
  });
});
