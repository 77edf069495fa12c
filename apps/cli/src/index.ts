export * from './cli-error.js';
export { csvCell, toCsv } from '@imagefleet/core';
export * from './progress.js';
export * from './local-redis.js';
export { sourceFromTarget } from './commands/submit.js';
export { selectGpus } from './commands/gpus.js';
export * from './auth-default.js';
