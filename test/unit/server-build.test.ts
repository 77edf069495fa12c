import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { BUILD_RECIPE, bundleCommit, cachedServerBinary, findLlamaServer } from '@imagefleet/engine';

const cacheDir = mkdtempSync(join(tmpdir(), 'imagefleet-engine-cache-'));
after(() => rmSync(cacheDir, { recursive: true, force: true }));

function cachedBuild(backend: 'cpu' | 'cuda', buildJson: Record<string, unknown> | undefined): string {
  const binary = cachedServerBinary(cacheDir, bundleCommit(), backend);
  mkdirSync(dirname(binary), { recursive: true });
  writeFileSync(binary, '#!/bin/sh\n', { mode: 0o755 });
  if (buildJson) writeFileSync(join(dirname(dirname(binary)), 'build.json'), JSON.stringify(buildJson));
  return binary;
}

test('a cached llama-server counts only when the current recipe built it (an older one may carry the AMX crash)', () => {
  const cpu = cachedBuild('cpu', undefined);
  assert.equal(findLlamaServer({ cacheDir }), undefined, 'a build without build.json is not used');
  writeFileSync(join(dirname(dirname(cpu)), 'build.json'), JSON.stringify({ recipe: BUILD_RECIPE - 1 }));
  assert.equal(findLlamaServer({ cacheDir }), undefined, 'a build of an older recipe is not used');
  writeFileSync(join(dirname(dirname(cpu)), 'build.json'), JSON.stringify({ recipe: BUILD_RECIPE }));
  assert.equal(findLlamaServer({ cacheDir }), cpu);
  const cuda = cachedBuild('cuda', { recipe: BUILD_RECIPE });
  assert.equal(findLlamaServer({ cacheDir }), cuda, 'a GPU build comes first');
  assert.equal(findLlamaServer({ cacheDir, bin: '/opt/llama/bin/llama-server' }), '/opt/llama/bin/llama-server', 'LLAMA_SERVER_BIN wins');
});
