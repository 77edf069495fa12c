import { isLoopbackHost } from '@imagefleet/core';

export { isLoopbackHost };

/**
 * AUTH for `imagefleet up` and `demo`: what the environment says; else off only on a loopback
 * HOST with no key created yet (a single-user machine), on otherwise.
 */
export function localAuthDefault(env: NodeJS.ProcessEnv, keyCount: number): { auth: string; reason?: string } {
  if (env.AUTH !== undefined) return { auth: env.AUTH };
  if (isLoopbackHost(env.HOST ?? '127.0.0.1') && keyCount === 0) {
    return { auth: 'off', reason: 'AUTH is off: HOST is loopback and no API key exists (imagefleet keys create turns it on at the next start; AUTH=on forces it)' };
  }
  return { auth: 'on' };
}
