import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectGpus } from '@imagefleet/cli';

test('--gpus selects GPUs by index or all, and names what is missing', () => {
  assert.deepEqual(selectGpus('all', [0, 1, 2]), [0, 1, 2]);
  assert.deepEqual(selectGpus('1, 0,1', [0, 1, 2]), [1, 0]);
  assert.throws(() => selectGpus('all', []), /nvidia-smi lists no GPUs/);
  assert.throws(() => selectGpus('0,3', [0, 1]), /GPU 3 not found \(nvidia-smi lists 0, 1\)/);
  assert.throws(() => selectGpus('first', [0]), /--gpus must be "all" or indices like 0,1/);
});
