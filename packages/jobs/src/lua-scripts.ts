import { readFileSync, readdirSync } from 'node:fs';
import type { Redis } from 'ioredis';

/**
 * The batch registry's Lua, one file per script in packages/jobs/lua, named
 * <command>-<number of keys>.lua. They live outside src/ because tsc copies nothing but
 * TypeScript and the Docker images drop src/: from dist/ and from src/ alike the folder is
 * ../lua. Each is registered once per connection with defineCommand (EVALSHA, loaded on
 * first use), under an imagefleet_ prefix so it never meets BullMQ's own commands.
 */
const LUA_DIR = new URL('../lua/', import.meta.url);
const FILE_NAME = /^([A-Za-z]+)-(\d+)\.lua$/;

export const scriptNames = ['createBatch', 'recordPage', 'finishListing', 'claimOutcome', 'markUnstorable', 'markFinished', 'cancel', 'pause', 'resume', 'retry', 'renewLock', 'releaseLock', 'note', 'revokeApiKey', 'fairRounds', 'expandDocument'] as const;
export type ScriptName = (typeof scriptNames)[number];

interface ScriptSource {
  keys: number;
  lua: string;
}

let sources: Map<string, ScriptSource> | undefined;

/** Reads every .lua file once per process; throws naming a missing script. */
export function loadScriptSources(): Map<string, ScriptSource> {
  if (sources) return sources;
  const found = new Map<string, ScriptSource>();
  for (const file of readdirSync(LUA_DIR)) {
    const match = FILE_NAME.exec(file);
    if (match) found.set(match[1]!, { keys: Number(match[2]), lua: readFileSync(new URL(file, LUA_DIR), 'utf8') });
  }
  for (const name of scriptNames) {
    if (!found.has(name)) throw new Error(`Lua script ${name}-<keys>.lua is missing from ${LUA_DIR.pathname}`);
  }
  sources = found;
  return found;
}

export type ScriptArg = string | number;
export type Scripts = Record<ScriptName, (keys: string[], args: ScriptArg[]) => Promise<unknown>>;

type DefinedCommand = (...keysAndArgs: ScriptArg[]) => Promise<unknown>;

const commandName = (name: ScriptName) => `imagefleet_${name}`;

/** Defines the scripts on this connection (once) and returns callers that check the key count. */
export function registerScripts(redis: Redis): Scripts {
  const loaded = loadScriptSources();
  const callers = {} as Scripts;
  for (const name of scriptNames) {
    const source = loaded.get(name)!;
    const command = commandName(name);
    if (typeof (redis as unknown as Record<string, unknown>)[command] !== 'function') {
      redis.defineCommand(command, { numberOfKeys: source.keys, lua: source.lua });
    }
    callers[name] = (keys, args) => {
      if (keys.length !== source.keys) throw new Error(`${name} takes ${source.keys} keys, got ${keys.length}`);
      return ((redis as unknown as Record<string, DefinedCommand>)[command]!).call(redis, ...keys, ...args);
    };
  }
  return callers;
}
