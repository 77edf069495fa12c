export * from './blob-store.js';
export * from './local-store.js';
export * from './s3-store.js';
export * from './open-store.js';
export * from './layout.js';
export * from './result-lines.js';
export * from './settings.js';
export * from './retry.js';
