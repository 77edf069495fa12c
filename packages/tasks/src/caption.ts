import type { ModelTask } from './model-task.js';
import { unknownOption } from './task.js';

export const captionTask: ModelTask = {
  kind: 'model',
  name: 'caption',
  version: 1,
  description: 'One descriptive sentence and keywords',
  budget: { maxSide: 768 },
  validateOptions: (options) => unknownOption('caption', options, []),
  prompt: () => 'Describe this image in one sentence, then give up to 10 lowercase keywords. Answer with JSON only.',
  schema: () => ({
    type: 'object',
    additionalProperties: false,
    required: ['caption', 'keywords'],
    properties: {
      caption: { type: 'string', pattern: "^[A-Za-z0-9][A-Za-z0-9 ,.;:'()-]{0,199}$" },
      keywords: { type: 'array', maxItems: 10, items: { type: 'string', pattern: '^[a-z0-9][a-z0-9 -]{0,23}$' } },
    },
  }),
  maxOutputTokens: () => 320,
  warnings: () => [],
  describe: (result) => String((result.output as { caption?: string }).caption ?? ''),
};
