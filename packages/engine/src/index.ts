export * from './gguf-writer.js';
export * from './tiny-model.js';
