import { defineConfig } from 'vite';

// Preact's automatic JSX runtime; the build goes to dist/, which the producer serves at /.
export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022', reportCompressedSize: true },
});
