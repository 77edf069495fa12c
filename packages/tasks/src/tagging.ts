import type { ModelTask } from './model-task.js';
import { optionCheckers } from './model-task.js';
import { unknownOption } from './task.js';

export const DEFAULT_TAXONOMY = [
  'apparel/tops', 'apparel/bottoms', 'apparel/dresses', 'apparel/outerwear', 'footwear', 'bags', 'accessories',
  'jewellery', 'home/kitchen', 'home/decor', 'home/furniture', 'beauty', 'electronics', 'toys', 'sports', 'other',
];
const COLOURS = ['black', 'white', 'grey', 'red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink', 'brown', 'beige', 'gold', 'silver', 'multicolour'];
const MATERIALS = ['cotton', 'wool', 'linen', 'silk', 'synthetic', 'denim', 'leather', 'metal', 'wood', 'glass', 'ceramic', 'plastic', 'paper', 'stone', 'mixed', 'unknown'];
const PATTERNS = ['solid', 'striped', 'checked', 'floral', 'graphic', 'dotted', 'animal', 'other'];
const STYLES = ['casual', 'formal', 'sport', 'outdoor', 'classic', 'modern', 'vintage', 'minimal', 'other'];
const AUDIENCES = ['women', 'men', 'unisex', 'kids', 'baby', 'any'];
const CATEGORY_PATTERN = /^[a-z0-9][a-z0-9 /&-]{0,47}$/;

function taxonomyOf(options: Record<string, unknown>): string[] {
  return (options.taxonomy as string[] | undefined) ?? DEFAULT_TAXONOMY;
}

function maxTagsOf(options: Record<string, unknown>): number {
  return (options.maxTags as number | undefined) ?? 8;
}

/** Catalog auto-tagging: category from a taxonomy, attributes, a short title, tags. */
export const taggingTask: ModelTask = {
  kind: 'model',
  name: 'tagging',
  version: 1,
  description: 'Product category (from a taxonomy), attributes, a short title and tags',
  budget: { maxSide: 768 },
  validateOptions(options) {
    const unknown = unknownOption('tagging', options, ['taxonomy', 'maxTags']);
    if (unknown) return unknown;
    if (options.taxonomy !== undefined && !optionCheckers.isStringList(options.taxonomy, 500, CATEGORY_PATTERN)) {
      return 'options.taxonomy must be 1-500 category names (lowercase letters, digits, space, / & -; up to 48 chars)';
    }
    if (options.maxTags !== undefined && !(Number.isInteger(options.maxTags) && (options.maxTags as number) >= 1 && (options.maxTags as number) <= 32)) {
      return 'options.maxTags must be an integer from 1 to 32';
    }
    return undefined;
  },
  prompt: (options) =>
    'You tag product photos for an online catalog. Look at the image and answer with JSON only: ' +
    `the category (one of: ${taxonomyOf(options).join(', ')}), the attributes that apply, ` +
    `a short product title, and up to ${maxTagsOf(options)} lowercase search tags.`,
  schema: (options) => ({
    type: 'object',
    additionalProperties: false,
    required: ['category', 'title', 'attributes', 'tags'],
    properties: {
      category: { enum: taxonomyOf(options) },
      title: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9 ,.&()/-]{0,59}$' },
      attributes: {
        type: 'object',
        additionalProperties: false,
        required: ['colour'],
        properties: {
          colour: { enum: COLOURS },
          material: { enum: MATERIALS },
          pattern: { enum: PATTERNS },
          style: { enum: STYLES },
          audience: { enum: AUDIENCES },
        },
      },
      tags: { type: 'array', maxItems: maxTagsOf(options), items: { type: 'string', pattern: '^[a-z0-9][a-z0-9 -]{0,23}$' } },
    },
  }),
  maxOutputTokens: (options) => 160 + 16 * maxTagsOf(options),
  warnings(output) {
    const tags = (output as { tags?: string[] }).tags ?? [];
    return new Set(tags).size < tags.length ? ['tags contain duplicates'] : [];
  },
  describe: (result) => {
    const output = result.output as { category?: string; title?: string; tags?: string[] };
    return `${output.category} | ${output.title} | ${(output.tags ?? []).join(', ')}`;
  },
};
