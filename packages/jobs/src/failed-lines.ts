import { errorCodes, type ErrorCode, type ResultLine } from '@imagefleet/core';

/**
 * The result line of an input that BullMQ failed without our processor recording it: the code
 * from "<code>: <message>" (how the processor fails jobs), `stalled` when its workers kept dying,
 * else `internal`.
 */
export function failedJobLine(key: string, failedReason: string): ResultLine {
  const prefixed = /^([a-z_]+): ([\s\S]*)$/.exec(failedReason);
  let code: ErrorCode = /stalled/i.test(failedReason) ? 'stalled' : 'internal';
  let message = failedReason || 'the job failed without a reason';
  if (prefixed && (errorCodes as readonly string[]).includes(prefixed[1]!)) {
    code = prefixed[1] as ErrorCode;
    message = prefixed[2]!;
  }
  return { key, status: 'failed', error: { code, message } };
}

/** The line of an input whose result object the store refused for good (its outcome is 'unstorable'). */
export function unstorableLine(key: string): ResultLine {
  return {
    key,
    status: 'failed',
    error: { code: 'result_unstorable', message: "the results store refused this input's result object (its path collides with another input's result, or the store refuses the key)" },
  };
}
