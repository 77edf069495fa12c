import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { Logger } from '@imagefleet/core';

/** Where the console's build (apps/console, `npm run build`) lies; undefined when it was not built. */
export function consoleRoot(): string | undefined {
  const root = join(dirname(createRequire(import.meta.url).resolve('@imagefleet/console/package.json')), 'dist');
  return existsSync(join(root, 'index.html')) ? root : undefined;
}

/**
 * The web console's static files at /: index.html and its hashed assets (routes inside the
 * console are URL fragments, so no fallback route is needed). The console calls the API with the
 * key the user signed in with; the files themselves are public.
 */
export async function registerConsole(app: FastifyInstance, logger: Logger): Promise<void> {
  const root = consoleRoot();
  if (!root) {
    logger.warn('the web console is not built (npm run build): / serves nothing');
    return;
  }
  await app.register(fastifyStatic, {
    root,
    prefix: '/',
    wildcard: false,
    index: 'index.html',
    // Hashed asset names change with their content; index.html must be asked for again each time.
    setHeaders: (reply, path) => reply.header('cache-control', path.endsWith('index.html') ? 'no-cache' : 'public, max-age=31536000, immutable'),
  });
}
