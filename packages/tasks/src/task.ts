import type { ImageBudget, PreparedImage } from '@imagefleet/imaging';

/**
 * A task profile: what a worker does with one prepared image. Model-free tasks compute their
 * result from the pixels; model tasks (later) add a prompt and a bounded output schema.
 */
export interface TaskProfile<Result = unknown> {
  readonly name: string;
  readonly description: string;
  /** Size the image is prepared to before run() sees it. */
  readonly budget: ImageBudget;
  /** Checks request options; returns a message naming the bad field, or undefined. */
  validateOptions(options: Record<string, unknown>): string | undefined;
  run(image: PreparedImage, options: Record<string, unknown>): Promise<Result>;
  /** One short human line for a result (CLI summaries). */
  describe(result: Result): string;
}
