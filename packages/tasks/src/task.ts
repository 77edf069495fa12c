import type { ImageBudget, PreparedImage } from '@imagefleet/imaging';

import type { ModelTask } from './model-task.js';

/** A task computed from the pixels alone, in the worker process (no model). */
export interface PixelTask<Result = unknown> {
  readonly kind: 'pixels';
  readonly name: string;
  /** Bumped when its results change (see ModelTask.version). */
  readonly version: number;
  readonly description: string;
  /** Size the image is prepared to before run() sees it. */
  readonly budget: ImageBudget;
  /** Checks request options; returns a message naming the bad field, or undefined. */
  validateOptions(options: Record<string, unknown>): string | undefined;
  run(image: PreparedImage, options: Record<string, unknown>): Promise<Result>;
  /** One short human line for a result (CLI summaries). */
  describe(result: Result): string;
}

/** Every task is either computed from pixels or answered by the vision-language model. */
export type Task = PixelTask | ModelTask;

/** The message for the first option a task does not take (naming the ones it does), or undefined. */
export function unknownOption(task: string, options: Record<string, unknown>, allowed: string[]): string | undefined {
  const unknown = Object.keys(options).find((key) => !allowed.includes(key));
  if (unknown === undefined) return undefined;
  return `options.${unknown} is not ${/^[aeiou]/.test(task) ? 'an' : 'a'} ${task} option (${allowed.length ? allowed.join(', ') : `${task} takes no options`})`;
}
