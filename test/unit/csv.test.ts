import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvCell, progressLine, sourceFromTarget, toCsv } from '@imagefleet/cli';

async function* lines(items: unknown[]) {
  for (const item of items) yield JSON.stringify(item);
}

test('results become CSV with flattened result fields and quoted cells', async () => {
  const out: string[] = [];
  for await (const row of toCsv(
    lines([
      { key: 'a.jpg', status: 'ok', result: { width: 10, colours: [{ hex: '#fff' }], nested: { x: 'q"uote' } } },
      { key: 'b,c.jpg', status: 'failed', error: { code: 'not_an_image', message: 'Not an image: x' } },
    ]),
  )) out.push(row);
  assert.deepEqual(out, [
    'key,status,error_code,error_message,result.width,result.colours,result.nested.x\n',
    'a.jpg,ok,,,10,"[{""hex"":""#fff""}]","q""uote"\n',
    '"b,c.jpg",failed,not_an_image,Not an image: x,,,\n',
  ]);
  assert.equal(csvCell('line\nbreak'), '"line\nbreak"');
});

test('submit targets: s3 urls and directories', () => {
  assert.deepEqual(sourceFromTarget('s3://bucket/some/prefix/'), { s3: { bucket: 'bucket', prefix: 'some/prefix/' } });
  assert.deepEqual(sourceFromTarget('s3://bucket'), { s3: { bucket: 'bucket', prefix: '' } });
  assert.deepEqual(sourceFromTarget('/tmp/photos'), { local: { path: '/tmp/photos' } });
  assert.throws(() => sourceFromTarget('gs://bucket/x'), /Unsupported source/);
});

test('progress line shows counts, rate and ETA', () => {
  const line = progressLine({
    id: 'b', task: 'inspect', state: 'running', priority: 1, total: 200, completed: 90, failed: 10, skipped: 0,
    createdAt: '', finishedAt: null, throughput: 25, eta: 4,
  }, 10);
  assert.equal(line, '[#####.....] 100/200 50%  25.0 img/s  ETA 4s  failed 10');
});
