export * from './deps.js';
export * from './fleet-worker.js';
export * from './process-image.js';
export * from './finalize.js';
export * from './webhook.js';
export * from './run-worker.js';
export * from './engine-runtime.js';
export * from './model-step.js';
