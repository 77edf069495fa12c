export * from './task.js';
export * from './image-metrics.js';
export * from './inspect.js';
export * from './registry.js';
