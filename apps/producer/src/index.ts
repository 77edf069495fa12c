export * from './deps.js';
export * from './app.js';
export * from './lister.js';
export * from './source.js';
export * from './run-producer.js';
export { safeFileName } from './routes/uploads.js';
export * from './queue-sampler.js';
export * from './reconciler.js';
export * from './source-policy.js';
