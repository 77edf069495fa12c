import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '@imagefleet/core';
import { ImageActivity, modelIdOf, modelIdOfFile } from '@imagefleet/worker';

test('the default model id is the GGUF name plus a hash prefix of its path and size', () => {
  const id = modelIdOf('/models/Qwen3-VL-2B-Instruct-Q8_0.gguf', 2_000_000_000);
  assert.match(id, /^qwen3-vl-2b-instruct-q8_0-[0-9a-f]{6}$/);
  assert.equal(modelIdOf('/models/Qwen3-VL-2B-Instruct-Q8_0.gguf', 2_000_000_000), id);
  assert.notEqual(modelIdOf('/other/Qwen3-VL-2B-Instruct-Q8_0.gguf', 2_000_000_000), id);
  assert.notEqual(modelIdOf('/models/Qwen3-VL-2B-Instruct-Q8_0.gguf', 2_000_000_001), id);
  assert.match(modelIdOf('/m/odd name (v2).GGUF', 1), /^odd-name-v2-[0-9a-f]{6}$/);
});

test('modelIdOfFile reads the size of the real file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imagefleet-model-id-'));
  const path = join(dir, 'tiny.gguf');
  writeFileSync(path, Buffer.alloc(1234));
  assert.equal(await modelIdOfFile(path), modelIdOf(path, 1234));
});

test('MODEL_ID accepts a plain name and refuses anything else naming the variable', () => {
  assert.equal(loadConfig({ MODEL_ID: 'qwen3-vl-8b:q4' }).modelId, 'qwen3-vl-8b:q4');
  assert.equal(loadConfig({}).modelId, undefined);
  assert.throws(() => loadConfig({ MODEL_ID: 'has space' }), (error: unknown) => error instanceof ConfigError && /MODEL_ID/.test(error.message));
});

test('images per second counts finished images over the last minute only', async () => {
  let now = 1_000_000;
  const activity = new ImageActivity(60, () => now);
  for (let i = 0; i < 30; i++) await activity.track(async () => 'ok', () => true);
  await activity.track(async () => 'duplicate', () => false);
  assert.equal(activity.imagesPerSecond(), 0.5);
  now += 30_000;
  for (let i = 0; i < 30; i++) await activity.track(async () => 'ok', () => true);
  assert.equal(activity.imagesPerSecond(), 1);
  now += 31_000;
  assert.equal(activity.imagesPerSecond(), 0.5);
  now += 60_000;
  assert.equal(activity.imagesPerSecond(), 0);
});

test('jobs in flight count while their work runs, and drop when it throws', async () => {
  const activity = new ImageActivity();
  let release!: () => void;
  const running = activity.track(() => new Promise<string>((resolve) => (release = () => resolve('ok'))), () => true);
  assert.equal(activity.jobsInFlight, 1);
  release();
  await running;
  await assert.rejects(activity.track(() => Promise.reject(new Error('boom')), () => true));
  assert.equal(activity.jobsInFlight, 0);
});
