export * from './redis.js';
export * from './queues.js';
export * from './batch-registry.js';
export * from './backend.js';
