export * from './config.js';
export * from './errors.js';
export * from './logger.js';
export * from './schemas.js';
export * from './ids.js';
export * from './webhook-policy.js';
export * from './loopback.js';
export * from './documents.js';
