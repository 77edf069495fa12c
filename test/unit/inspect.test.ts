import { test } from 'node:test';
import assert from 'node:assert/strict';
import { prepareImage } from '@imagefleet/imaging';
import { hammingDistance, inspectTask } from '@imagefleet/tasks';
import { blurred, exifRotated, nearDuplicate, noise, solidColour, syntheticPhoto } from '../helpers/images.js';

async function inspect(bytes: Buffer) {
  const image = await prepareImage(bytes, { maxPixels: 50_000_000 }, inspectTask.budget);
  return inspectTask.run(image, {});
}

test('a solid colour image: that colour dominates, sharpness is zero, facts are right', async () => {
  const bytes = await solidColour('#3366cc', 200, 150);
  const result = await inspect(bytes);
  assert.equal(result.width, 200);
  assert.equal(result.height, 150);
  assert.equal(result.format, 'png');
  assert.equal(result.bytes, bytes.length);
  assert.equal(result.hasAlpha, false);
  assert.equal(result.exifRotated, false);
  assert.deepEqual(result.dominantColours, [{ hex: '#3366cc', share: 1 }]);
  assert.equal(result.sharpness, 0);
  assert.match(result.dhash, /^[0-9a-f]{16}$/);
});

test('two colours: both reported with their shares', async () => {
  const sharp = (await import('sharp')).default;
  const left = await sharp({ create: { width: 100, height: 100, channels: 3, background: '#ff0000' } })
    .extend({ right: 100, background: '#00ff00' })
    .png()
    .toBuffer();
  const result = await inspect(left);
  const hexes = result.dominantColours.map((colour) => colour.hex).sort();
  assert.deepEqual(hexes, ['#00ff00', '#ff0000']);
  for (const colour of result.dominantColours) assert.ok(Math.abs(colour.share - 0.5) < 0.05, JSON.stringify(colour));
});

test('the same photo blurred is much less sharp than the original', async () => {
  const sharpImage = await noise(256, 256);
  const [original, soft] = await Promise.all([inspect(sharpImage), inspect(await blurred(sharpImage, 3))]);
  assert.ok(original.sharpness > 1000, `sharp: ${original.sharpness}`);
  assert.ok(soft.sharpness < original.sharpness / 20, `blurred ${soft.sharpness} vs sharp ${original.sharpness}`);
  const photo = await syntheticPhoto(11, 400, 300);
  const [photoSharp, photoSoft] = await Promise.all([inspect(photo), inspect(await blurred(photo, 4))]);
  assert.ok(photoSoft.sharpness < photoSharp.sharpness / 5, `photo blurred ${photoSoft.sharpness} vs ${photoSharp.sharpness}`);
});

// The inspect result documents <= 10 bits as 'suggests a near-duplicate'; both sides of that line are checked.
test('near-duplicates have close hashes; unrelated images do not', async () => {
  const photos = await Promise.all([1, 2, 3, 4, 5].map((seed) => syntheticPhoto(seed, 400, 300)));
  for (const photo of photos) {
    const [a, b] = await Promise.all([inspect(photo), inspect(await nearDuplicate(photo))]);
    assert.ok(hammingDistance(a.dhash, b.dhash) <= 10, `near-duplicate distance ${hammingDistance(a.dhash, b.dhash)}`);
  }
  const hashes = await Promise.all(photos.map(async (photo) => (await inspect(photo)).dhash));
  for (let i = 0; i < hashes.length; i++) {
    for (let j = i + 1; j < hashes.length; j++) {
      assert.ok(hammingDistance(hashes[i]!, hashes[j]!) > 10, `unrelated ${i},${j}: ${hammingDistance(hashes[i]!, hashes[j]!)}`);
    }
  }
});

test('EXIF-rotated input reports upright dimensions and the hash of the upright picture', async () => {
  const rotated = await inspect(await exifRotated(300, 200));
  const upright = await inspect(await syntheticPhoto(7, 300, 200));
  assert.equal(rotated.exifRotated, true);
  assert.deepEqual([rotated.width, rotated.height], [300, 200]);
  assert.ok(hammingDistance(rotated.dhash, upright.dhash) <= 6);
});

test('hamming distance counts differing bits', () => {
  assert.equal(hammingDistance('0000000000000000', '0000000000000000'), 0);
  assert.equal(hammingDistance('ffffffffffffffff', '0000000000000000'), 64);
  assert.equal(hammingDistance('0000000000000003', '0000000000000001'), 1);
});

test('inspect refuses options', () => {
  assert.match(inspectTask.validateOptions({ prompt: 'x' }) ?? '', /inspect takes no options/);
  assert.equal(inspectTask.validateOptions({}), undefined);
});
