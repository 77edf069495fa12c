/** Exit codes of the imagefleet command. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  usage: 2,
  /** The batch finished but some inputs failed. */
  batchHadErrors: 3,
  batchCancelled: 4,
} as const;

/** An error the user can act on: printed as one line, no stack trace. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = ExitCode.failure,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
