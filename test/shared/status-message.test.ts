// The status message's parsers, against what the old Python adapter's pubsub publishes: its four
// fields (GameServerGroupName, GameServerGroupArn, InstanceId, InstanceStatus) and nothing else.
import { describe, expect, it } from '@jest/globals';
import {
  parseLegacyStatusMessage,
  parseStatusMessage,
  signStatusMessage,
} from '../../shared/status-message.js';

const OLD = {
  GameServerGroupName: 'agones-game-servers',
  GameServerGroupArn: 'arn:aws:gamelift:us-east-1:123456789012:gameservergroup/agones-game-servers',
  InstanceId: 'i-0123456789abcdef0',
  InstanceStatus: 'DRAINING',
};

describe('parseLegacyStatusMessage', () => {
  it("reads the old adapter's message, which parseStatusMessage refuses", () => {
    expect(parseStatusMessage(JSON.stringify(OLD))).toEqual({
      ok: false,
      error: 'missing or invalid ObservedAt',
    });
    expect(parseLegacyStatusMessage(JSON.stringify(OLD))).toEqual({ ok: true, message: OLD });
  });

  it('takes the group by name or by ARN alone', () => {
    const { GameServerGroupArn: _arn, ...byName } = OLD;
    const { GameServerGroupName: _name, ...byArn } = OLD;
    expect(parseLegacyStatusMessage(JSON.stringify(byName))).toEqual({ ok: true, message: byName });
    expect(parseLegacyStatusMessage(JSON.stringify(byArn))).toEqual({ ok: true, message: byArn });
  });

  it('refuses anything that claims to be the new format, or is not a status at all', () => {
    const ours = { ...OLD, ObservedAt: new Date().toISOString(), Sequence: 1 };
    const cases: [unknown, string][] = [
      [{ ...OLD, ObservedAt: 'garbage' }, 'has ObservedAt: not the old format'],
      [{ ...OLD, Sequence: 'x' }, 'has Sequence: not the old format'],
      [signStatusMessage(ours as never, 's'), 'has ObservedAt: not the old format'],
      [{ ...OLD, Signature: 'ab' }, 'has Signature: not the old format'],
      [{ ...OLD, InstanceStatus: 'TERMINATED' }, 'unknown InstanceStatus "TERMINATED"'],
      [{ ...OLD, InstanceId: '' }, 'missing or invalid InstanceId'],
      [
        { InstanceId: OLD.InstanceId, InstanceStatus: 'ACTIVE' },
        'missing GameServerGroupName and GameServerGroupArn',
      ],
      [[OLD], 'not an object'],
      [null, 'not an object'],
    ];
    for (const [value, error] of cases)
      expect(parseLegacyStatusMessage(JSON.stringify(value))).toEqual({ ok: false, error });
    expect(parseLegacyStatusMessage('{"InstanceStatus":')).toEqual({ ok: false, error: 'not JSON' });
  });
});
