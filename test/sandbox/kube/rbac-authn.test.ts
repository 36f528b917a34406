import { describe, it, expect } from '@jest/globals';
import {
  TokenAuthenticator,
  bearerToken,
  parseServiceAccountUsername,
  serviceAccountUser,
} from '../../../sandbox/kube/authn.js';

describe('bearer token authentication', () => {
  it('authenticates issued tokens as their identity, always in system:authenticated', () => {
    const authn = new TokenAuthenticator();
    const token = authn.issue({ username: 'kubectl-admin', groups: ['system:masters'] });
    expect(authn.authenticate(`Bearer ${token}`)).toEqual({
      username: 'kubectl-admin',
      groups: ['system:masters', 'system:authenticated'],
    });
    // The scheme is case-insensitive and surrounding space is ignored, as in kube's authenticator.
    expect(authn.authenticate(`  bearer ${token}  `)?.username).toBe('kubectl-admin');
  });

  it('rejects missing, malformed and unknown credentials', () => {
    const authn = new TokenAuthenticator();
    const token = authn.issue({ username: 'u', groups: [] });
    expect(authn.authenticate(undefined)).toBeUndefined();
    expect(authn.authenticate('')).toBeUndefined();
    expect(authn.authenticate(`Basic ${token}`)).toBeUndefined();
    expect(authn.authenticate('Bearer ')).toBeUndefined();
    expect(authn.authenticate(`Bearer ${token}x`)).toBeUndefined();
    expect(authn.authenticate(token)).toBeUndefined();
    expect(authn.revoke(token)).toBe(true);
    expect(authn.authenticate(`Bearer ${token}`)).toBeUndefined();
  });

  it('issues distinct tokens, and identities cannot be changed through what authenticate returns', () => {
    const authn = new TokenAuthenticator();
    const a = authn.issue({ username: 'a', groups: [] });
    const b = authn.issue({ username: 'a', groups: [] });
    expect(a).not.toBe(b);
    const user = authn.authenticate(`Bearer ${a}`)!;
    expect(() => user.groups.push('system:masters')).toThrow();
    expect(authn.authenticate(`Bearer ${a}`)!.groups).toEqual(['system:authenticated']);
  });

  it('gives ServiceAccounts their kube identity', () => {
    expect(serviceAccountUser('fleetiq', 'reconciler')).toEqual({
      username: 'system:serviceaccount:fleetiq:reconciler',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:fleetiq', 'system:authenticated'],
    });
    const authn = new TokenAuthenticator();
    const token = authn.issueForServiceAccount('fleetiq', 'webhook');
    expect(authn.authenticate(`Bearer ${token}`)?.groups).toEqual([
      'system:serviceaccounts',
      'system:serviceaccounts:fleetiq',
      'system:authenticated',
    ]);
    expect(parseServiceAccountUsername('system:serviceaccount:fleetiq:webhook')).toEqual({
      namespace: 'fleetiq',
      name: 'webhook',
    });
    expect(parseServiceAccountUsername('system:serviceaccount:fleetiq')).toBeUndefined();
    expect(parseServiceAccountUsername('alice')).toBeUndefined();
  });

  it('parses the Authorization header like kube-apiserver', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('BEARER abc')).toBe('abc');
    expect(bearerToken('Bearer abc extra')).toBe('abc');
    expect(bearerToken('Bearer  abc')).toBeUndefined();
  });
});
