export * from './gguf-writer.js';
export * from './tiny-model.js';
export * from './protocol.js';
export * from './slot-gate.js';
export * from './engine-host.js';
export * from './model-files.js';
