import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { ImagefleetError } from '@imagefleet/core';
import { prepareImage, prepareJpeg, sniffImageFormat } from '@imagefleet/imaging';
import { exifRotated, pngDeclaring, syntheticPhoto, truncated } from '../helpers/images.js';

const limits = { maxPixels: 50_000_000 };
const budget = { maxSide: 256 };

function failsWith(code: string, message?: RegExp) {
  return (error: unknown) => {
    assert.ok(error instanceof ImagefleetError, `expected ImagefleetError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.ok(error.permanent);
    if (message) assert.match(error.message, message);
    return true;
  };
}

test('formats are sniffed from bytes, not names', async () => {
  assert.deepEqual(sniffImageFormat(await syntheticPhoto(1)), { kind: 'image', format: 'jpeg' });
  assert.deepEqual(sniffImageFormat(await syntheticPhoto(1, 50, 50, 'png')), { kind: 'image', format: 'png' });
  assert.deepEqual(sniffImageFormat(await sharp(await syntheticPhoto(1)).webp().toBuffer()), { kind: 'image', format: 'webp' });
  assert.deepEqual(sniffImageFormat(await sharp(await syntheticPhoto(1)).gif().toBuffer()), { kind: 'image', format: 'gif' });
  assert.deepEqual(sniffImageFormat(await sharp(await syntheticPhoto(1)).tiff().toBuffer()), { kind: 'image', format: 'tiff' });
  assert.deepEqual(sniffImageFormat(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')), { kind: 'unknown' });
  assert.deepEqual(sniffImageFormat(Buffer.alloc(0)), { kind: 'empty' });
});

test('a photo is resized to the budget, keeping its aspect, never enlarged', async () => {
  const image = await prepareImage(await syntheticPhoto(3, 1000, 500), limits, budget);
  assert.equal(image.width, 256);
  assert.equal(image.height, 128);
  assert.equal(image.channels, 3);
  assert.equal(image.pixels.length, 256 * 128 * 3);
  assert.deepEqual({ w: image.source.width, h: image.source.height, f: image.source.format }, { w: 1000, h: 500, f: 'jpeg' });
  const small = await prepareImage(await syntheticPhoto(3, 100, 80), limits, budget);
  assert.deepEqual([small.width, small.height], [100, 80]);
});

test('EXIF orientation is applied: a sideways photo comes out upright', async () => {
  const image = await prepareImage(await exifRotated(300, 200), limits, { maxSide: 1000 });
  assert.equal(image.exifRotated, true);
  assert.equal(image.source.orientation, 6);
  assert.deepEqual([image.width, image.height], [300, 200]);
});

test('alpha is kept as a fourth channel', async () => {
  const png = await sharp({ create: { width: 20, height: 10, channels: 4, background: { r: 255, g: 0, b: 0, alpha: 0.5 } } }).png().toBuffer();
  const image = await prepareImage(png, limits, budget);
  assert.equal(image.channels, 4);
  assert.equal(image.source.hasAlpha, true);
});

test('for a model engine the image is prepared straight to JPEG: the same size and pixels as the raw path, alpha flattened on white', async () => {
  const photo = await syntheticPhoto(4, 800, 600);
  const jpeg = await prepareJpeg(photo, limits, budget);
  const raw = await prepareImage(photo, limits, budget);
  assert.deepEqual([jpeg.width, jpeg.height, jpeg.exifRotated], [raw.width, raw.height, raw.exifRotated]);
  assert.deepEqual(sniffImageFormat(jpeg.jpeg), { kind: 'image', format: 'jpeg' });
  const decoded = await sharp(jpeg.jpeg).raw().toBuffer({ resolveWithObject: true });
  assert.deepEqual([decoded.info.width, decoded.info.height, decoded.info.channels], [raw.width, raw.height, 3]);
  // JPEG is lossy: the decoded pixels stay within a few levels of the raw path's on average.
  const meanDifference = decoded.data.reduce((sum, value, index) => sum + Math.abs(value - raw.pixels[index]!), 0) / decoded.data.length;
  assert.ok(meanDifference < 4, `mean difference ${meanDifference}`);

  const sideways = await prepareJpeg(await exifRotated(300, 200), limits, { maxSide: 1000 });
  assert.deepEqual([sideways.exifRotated, sideways.width, sideways.height], [true, 300, 200]);

  const transparent = await sharp({ create: { width: 20, height: 10, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0 } } }).png().toBuffer();
  const flattened = await sharp((await prepareJpeg(transparent, limits, budget)).jpeg).raw().toBuffer();
  assert.ok(flattened.every((value) => value > 245), 'a transparent image comes out white');
  await assert.rejects(prepareJpeg(Buffer.from('just some text, named photo.jpg'), limits, budget), failsWith('not_an_image'));
});

test('bad inputs fail with stable codes', async () => {
  await assert.rejects(prepareImage(Buffer.alloc(0), limits, budget), failsWith('empty'));
  await assert.rejects(prepareImage(Buffer.from('just some text, named photo.jpg'), limits, budget), failsWith('not_an_image'));
  await assert.rejects(prepareImage(truncated(await syntheticPhoto(5, 400, 300)), limits, budget), failsWith('corrupt_image', /premature end/i));
  await assert.rejects(prepareImage(await pngDeclaring(30000, 30000), limits, budget), failsWith('too_many_pixels'));
  // Within libvips' own limit but over ours: refused from the header, before decoding.
  await assert.rejects(prepareImage(await syntheticPhoto(6, 400, 300), { maxPixels: 100_000 }, budget), failsWith('too_many_pixels', /400x300 = 120000 pixels/));
  const header = (await syntheticPhoto(5)).subarray(0, 3);
  await assert.rejects(prepareImage(header, limits, budget), failsWith('corrupt_image'));
});
