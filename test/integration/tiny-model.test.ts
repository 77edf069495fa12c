import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readGgufFileInfo } from 'node-llama-cpp';
import { loadModel } from '@fugood/llama.node';
import Ajv from 'ajv';
import sharp from 'sharp';
import { makeTinyModel, tinyModelSizes, tinyVocabulary } from '@imagefleet/engine';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'imagefleet-tiny-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('the same seed writes the same bytes; another seed other weights', async () => {
  const a = await makeTinyModel(join(dir, 'a'), { seed: 7 });
  const b = await makeTinyModel(join(dir, 'b'), { seed: 7 });
  const c = await makeTinyModel(join(dir, 'c'), { seed: 8 });
  assert.ok(readFileSync(a.model).equals(readFileSync(b.model)));
  assert.ok(readFileSync(a.mmproj).equals(readFileSync(b.mmproj)));
  assert.ok(!readFileSync(a.model).equals(readFileSync(c.model)));
  const size = readFileSync(a.model).length + readFileSync(a.mmproj).length;
  assert.ok(size > 300_000 && size < 2_000_000, `test size ${size}`);
});

test("node-llama-cpp's GGUF reader sees a llama text model and a clip projector that fit together", async () => {
  const files = await makeTinyModel(join(dir, 'read'), { seed: 1 });
  const model = await readGgufFileInfo(files.model);
  const projector = await readGgufFileInfo(files.mmproj);
  const spec = tinyModelSizes.test;
  assert.equal(model.version, 3);
  assert.equal(model.metadata.general.architecture, 'llama');
  const llama = (model.metadata as unknown as { llama: { embedding_length: number; block_count: number } }).llama;
  assert.equal(llama.embedding_length, spec.embedding);
  assert.equal(llama.block_count, spec.layers);
  assert.equal(model.tensorInfo?.length, 3 + spec.layers * 9);
  assert.equal((model.metadata as unknown as { tokenizer: { ggml: { tokens: string[] } } }).tokenizer.ggml.tokens.length, tinyVocabulary().tokens.length);
  assert.equal(projector.metadata.general.architecture, 'clip');
  const clip = (projector.metadata as unknown as { clip: { projector_type: string; vision: { projection_dim: number } } }).clip;
  assert.equal(clip.projector_type, 'mlp');
  assert.equal(clip.vision.projection_dim, spec.embedding);
});

test('llama.cpp loads the pair and answers an image prompt with JSON valid against a bounded schema', async () => {
  const files = await makeTinyModel(join(dir, 'run'), { seed: 1 });
  const context = await loadModel({ model: files.model, n_ctx: 1024, n_gpu_layers: 0, n_threads: 2 });
  try {
    assert.equal(context.initMultimodal({ path: files.mmproj, use_gpu: false }), true);
    const schema = {
      type: 'object',
      properties: {
        colour: { enum: ['red', 'green', 'blue'] },
        tags: { type: 'array', items: { type: 'string', pattern: '^[a-z]{1,8}$' }, maxItems: 3 },
      },
      required: ['colour', 'tags'],
      additionalProperties: false,
    };
    const validate = new Ajv().compile(schema);
    const image = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#c03030' } }).jpeg().toBuffer();
    const answers = new Set<string>();
    for (const seed of [1, 2, 3, 4, 5]) {
      const result = await context.completion({
        messages: [{ role: 'user', content: [{ type: 'text', text: 'Tag this product.' }, { type: 'image_url', image_url: { url: `data:image/jpeg;base64,${image.toString('base64')}` } }] }],
        response_format: { type: 'json_schema', json_schema: { strict: true, schema } },
        n_predict: 96,
        seed,
      });
      const parsed = JSON.parse(result.content ?? '');
      assert.ok(validate(parsed), `${result.content}: ${JSON.stringify(validate.errors)}`);
      // The image tokens reached the model: far more than the text prompt alone.
      assert.ok(result.tokens_evaluated > 16, `evaluated ${result.tokens_evaluated}`);
      answers.add(result.content ?? '');
    }
    assert.ok(answers.size > 1, 'different seeds should give different noise');
  } finally {
    await context.release();
  }
});
