import { loadConfig } from '@imagefleet/core';
import { ApiKeyStore, createRedis, parseScopes } from '@imagefleet/jobs';
import { CliError, ExitCode } from '../cli-error.js';

/**
 * `imagefleet keys create|list|revoke`: talks to Redis directly (REDIS_URL, QUEUE_PREFIX), so the
 * first key can be made before any API accepts one.
 */
export async function keys(action: string | undefined, args: string[], flags: { name?: string; scope?: string }, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  if (action !== 'create' && action !== 'list' && action !== 'revoke') {
    throw new CliError('keys needs create --name NAME --scope submit,read[,metrics,admin] | list | revoke <id>', ExitCode.usage);
  }
  if (action === 'create' && !flags.name) throw new CliError('keys create needs --name NAME', ExitCode.usage);
  if (action === 'revoke' && !args[0]) throw new CliError('keys revoke needs a key id (see imagefleet keys list)', ExitCode.usage);
  let scopes;
  try {
    scopes = parseScopes(flags.scope ?? 'submit,read');
  } catch (error) {
    throw new CliError(`--${(error as Error).message}`, ExitCode.usage);
  }
  const config = loadConfig(env);
  const redis = createRedis(config.redisUrl, 'imagefleet-keys');
  try {
    const store = new ApiKeyStore(redis, config.queuePrefix);
    if (action === 'create') {
      const { key, token } = await store.create(flags.name!, scopes);
      process.stdout.write(`${token}\n`);
      process.stderr.write(`key ${key.id} "${key.name}" (${key.scopes.join(',')}) created; the token above is shown once, store it now\n`);
      return ExitCode.ok;
    }
    if (action === 'list') {
      for (const key of await store.list()) {
        process.stdout.write(`${key.id}  ${key.revoked ? 'revoked' : 'active '}  ${key.scopes.join(',').padEnd(24)}  ${key.createdAt}  ${key.name}\n`);
      }
      return ExitCode.ok;
    }
    if (!(await store.revoke(args[0]!))) throw new CliError(`no API key ${JSON.stringify(args[0])} (see imagefleet keys list)`);
    process.stdout.write(`key ${args[0]} revoked\n`);
    return ExitCode.ok;
  } finally {
    redis.disconnect();
  }
}
