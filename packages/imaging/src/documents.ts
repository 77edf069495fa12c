import sharp from 'sharp';
import { ImagefleetError } from '@imagefleet/core';
import { looksLikePdf, pdfPageCount, renderPdfPage } from './pdf.js';
import { toBudget, uprightImage, type ImageBudget, type ImageLimits, type PreparedImage, type PreparedJpeg, type UprightImage } from './prepare.js';
import { sniffImageFormat, type ImageFormat } from './sniff.js';
import { wideTiffPages } from './wide-tiff.js';

/** Inputs whose pages are analysed one by one: PDF, multi-page TIFF, multi-frame GIF and WebP. */
export type DocumentFormat = 'pdf' | 'tiff' | 'gif' | 'webp';

export interface DocumentInfo {
  format: DocumentFormat;
  pages: number;
}

const MULTI_PAGE_FORMATS = new Set<ImageFormat>(['tiff', 'gif', 'webp']);

/** PDF by its header, never by name; only when the bytes are not an image format already. */
function isPdf(bytes: Buffer): boolean {
  return sniffImageFormat(bytes).kind !== 'image' && looksLikePdf(bytes);
}

/**
 * Whether these bytes are a document, and how many pages it has: every PDF (an encrypted one
 * throws encrypted_document, an unreadable one corrupt_document, one without pages
 * empty_document), and a TIFF, GIF or WebP with more than one page. Anything else is undefined:
 * an image, or bytes that prepareImage judges with its own codes.
 */
export async function inspectDocument(bytes: Buffer): Promise<DocumentInfo | undefined> {
  if (isPdf(bytes)) {
    const pages = await pdfPageCount(bytes);
    if (pages === 0) throw new ImagefleetError('empty_document', 'The PDF has no pages');
    return { format: 'pdf', pages };
  }
  const sniffed = sniffImageFormat(bytes);
  if (sniffed.kind !== 'image' || !MULTI_PAGE_FORMATS.has(sniffed.format)) return undefined;
  // Header only. A header libvips cannot read is counted by the wide-sample TIFF reader when it
  // is one, else left to prepareImage, which names the failure.
  const pages = await sharp(bytes, { limitInputPixels: false }).metadata().then(
    (metadata) => metadata.pages ?? 1,
    async () => (sniffed.format === 'tiff' ? await wideTiffPages(bytes) : undefined) ?? 1,
  );
  return pages > 1 ? { format: sniffed.format as DocumentFormat, pages } : undefined;
}

/**
 * One page (1-based) of a document, prepared as an image is: a PDF page rendered at the size the
 * budget asks for (on white, no alpha); a TIFF page or GIF/WebP frame decoded by libvips with the
 * same limits and steps as any image.
 */
export async function preparePage(bytes: Buffer, page: number, limits: ImageLimits, budget: ImageBudget): Promise<PreparedImage> {
  return toBudget(await uprightPage(bytes, page, limits, budget), budget, { as: 'pixels' });
}

/** preparePage for a model engine: the page encoded as JPEG in the pipeline that prepared it. */
export async function preparePageJpeg(bytes: Buffer, page: number, limits: ImageLimits, budget: ImageBudget): Promise<PreparedJpeg> {
  return toBudget(await uprightPage(bytes, page, limits, budget), budget, { as: 'jpeg' });
}

async function uprightPage(bytes: Buffer, page: number, limits: ImageLimits, budget: ImageBudget): Promise<UprightImage> {
  if (!isPdf(bytes)) return uprightImage(bytes, limits, page - 1);
  const rendered = await renderPdfPage(bytes, page - 1, budget.maxSide, limits.maxPixels);
  return {
    upright: sharp(rendered.pixels, { raw: { width: rendered.width, height: rendered.height, channels: 4 } }).removeAlpha(),
    source: { format: 'pdf', width: rendered.width, height: rendered.height, bytes: bytes.length, hasAlpha: false, orientation: undefined },
  };
}
