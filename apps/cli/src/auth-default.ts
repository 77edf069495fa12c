import { isIP } from 'node:net';

/** Whether a listen address only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '');
  if (bare === 'localhost') return true;
  if (isIP(bare) === 4) return bare.startsWith('127.');
  return bare === '::1';
}

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
