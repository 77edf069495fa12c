export * from './sniff.js';
export * from './prepare.js';
export * from './raster.js';
export * from './render-svg.js';
export * from './pdf.js';
export * from './documents.js';
export * from './wide-tiff.js';
