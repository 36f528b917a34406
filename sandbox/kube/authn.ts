// Bearer-token authentication of the emulated API server: every client (the adapter's components,
// kubectl, the simulated controllers when they go over HTTP) presents a token issued here, and the
// request runs as the identity the token was issued for. Tokens are opaque random strings, not
// JWTs: clients only pass them through, so nothing they do depends on the format.

import { randomBytes } from 'node:crypto';
import type { UserInfo } from './types.js';

/** The group every authenticated identity is in (what `system:discovery` is bound to). */
export const AUTHENTICATED_GROUP = 'system:authenticated';
/** The group of requests without credentials, when the HTTP layer lets them through as anonymous. */
export const UNAUTHENTICATED_GROUP = 'system:unauthenticated';
/** Members of this group pass every authorization check, as in kube-apiserver. */
export const MASTERS_GROUP = 'system:masters';

/** Who a request without any credentials is, for an HTTP layer that allows anonymous requests. */
export const ANONYMOUS_USER: Readonly<UserInfo> = Object.freeze({
  username: 'system:anonymous',
  groups: [UNAUTHENTICATED_GROUP],
});

/** The identity a pod running as ServiceAccount `<namespace>/<name>` has. */
export function serviceAccountUser(namespace: string, name: string, uid?: string): UserInfo {
  return {
    username: `system:serviceaccount:${namespace}:${name}`,
    ...(uid ? { uid } : {}),
    groups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, AUTHENTICATED_GROUP],
  };
}

/** `{namespace, name}` when the username is a ServiceAccount's, else undefined. */
export function parseServiceAccountUsername(
  username: string,
): { namespace: string; name: string } | undefined {
  const prefix = 'system:serviceaccount:';
  if (!username.startsWith(prefix)) return undefined;
  const rest = username.slice(prefix.length);
  const colon = rest.indexOf(':');
  if (colon <= 0 || colon === rest.length - 1 || rest.indexOf(':', colon + 1) !== -1) return undefined;
  return { namespace: rest.slice(0, colon), name: rest.slice(colon + 1) };
}

/**
 * The token from an Authorization header value, parsed as kube-apiserver's bearer-token
 * authenticator does: scheme case-insensitive, a single space, the token up to the next space.
 */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const parts = header.trim().split(' ');
  if (parts.length < 2 || parts[0]!.toLowerCase() !== 'bearer') return undefined;
  const token = parts[1]!;
  return token.length > 0 ? token : undefined;
}

export class TokenAuthenticator {
  private readonly users = new Map<string, UserInfo>();

  /** A new random bearer token that authenticates as `user` (plus `system:authenticated`). */
  issue(user: UserInfo): string {
    const token = randomBytes(32).toString('base64url');
    const groups = user.groups.includes(AUTHENTICATED_GROUP)
      ? [...user.groups]
      : [...user.groups, AUTHENTICATED_GROUP];
    this.users.set(token, Object.freeze({ ...user, groups: Object.freeze(groups) as string[] }));
    return token;
  }

  /** A token for ServiceAccount `<namespace>/<name>`. */
  issueForServiceAccount(namespace: string, name: string): string {
    return this.issue(serviceAccountUser(namespace, name));
  }

  /** Whose token the header carries; undefined for no header, another scheme, or an unknown token. */
  authenticate(header: string | undefined): UserInfo | undefined {
    const token = bearerToken(header);
    return token === undefined ? undefined : this.users.get(token);
  }

  /** Makes a token unusable (a deleted ServiceAccount's token, a rotated credential). */
  revoke(token: string): boolean {
    return this.users.delete(token);
  }
}
