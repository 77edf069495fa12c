import sharp from 'sharp';
import { pdfFile, pdfStream } from '@imagefleet/eval';

/**
 * Test documents made here, nothing downloaded: PDFs from the samples' minimal writer (text pages
 * in Helvetica), and multi-page TIFFs and animated GIF/WebP that
 * sharp writes from one solid colour per page.
 */

const escapePdfText = (text: string) => text.replace(/[()\\]/g, '\\$&');

/**
 * A PDF of US-letter pages, each with its lines of text. `encrypted`: a standard security
 * handler whose user password is not empty (its U value matches none), so a reader needs a
 * password; `pages` may be empty (a document with zero pages).
 */
export function makePdf(pages: string[][], { encrypted = false }: { encrypted?: boolean } = {}): Buffer {
  const objects: (string | Buffer)[] = ['<< /Type /Catalog /Pages 2 0 R >>', '', '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>'];
  const kids: number[] = [];
  for (const lines of pages) {
    const text = lines.map((line, index) => `BT /F1 14 Tf 50 ${740 - index * 22} Td (${escapePdfText(line)}) Tj ET`).join('\n');
    const content = objects.push(pdfStream('', Buffer.from(text, 'latin1')));
    kids.push(objects.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents ${content} 0 R >>`));
  }
  objects[1] = `<< /Type /Pages /Kids [${kids.map((kid) => `${kid} 0 R`).join(' ')}] /Count ${kids.length} >>`;
  if (!encrypted) return pdfFile(objects);
  const encrypt = objects.push(`<< /Filter /Standard /V 1 /R 2 /O <${'ab'.repeat(32)}> /U <${'cd'.repeat(32)}> /P -4 >>`);
  return pdfFile(objects, ` /Encrypt ${encrypt} 0 R /ID [<${'01'.repeat(16)}> <${'01'.repeat(16)}>]`);
}

/** A three-page invoice: header on page 1, line items on every page, totals on page 3. */
export function invoicePdf(): Buffer {
  return makePdf([
    ['ACME Office Supplies', 'Invoice INV-2031', 'Issue date 2026-11-02  Due 2026-12-02', 'Currency EUR', '1  Paper A4 x10   42.00'],
    ['2  Toner black x2   180.00', '3  Stapler x1   12.50'],
    ['4  Folders x20   25.50', 'Subtotal 260.00', 'Tax 52.00', 'Total 312.00'],
  ]);
}

/** Bytes that start as a PDF and are nothing else. */
export const brokenPdf = (): Buffer => Buffer.from('%PDF-1.7\n1 0 obj\n<< /Type /Catalog /Pages 9 0 R\nthis is not a pdf at all', 'latin1');

/** One solid colour per page, in order (page n has colours[n - 1]). */
export async function multiPageImage(format: 'tiff' | 'gif' | 'webp', colours: [number, number, number][], width = 160, height = 120): Promise<Buffer> {
  const pages = await Promise.all(colours.map(([r, g, b]) => sharp({ create: { width, height, channels: 3, background: { r, g, b } } }).png().toBuffer()));
  const joined = pages.length === 1 ? sharp(pages[0]) : sharp(pages, { join: { animated: true } });
  return (format === 'tiff' ? joined.tiff() : format === 'gif' ? joined.gif() : joined.webp({ lossless: true })).toBuffer();
}

/**
 * scikit-image's two-page RGB TIFF (Debian python3-skimage, installed by .ci/run): each page 10x10
 * with three 64-bit floating-point samples in separate planes, which libvips refuses ("tiff2vips:
 * samples out of range"; it reads up to 32 bits per sample).
 */
export const SKIMAGE_MULTIPAGE_RGB = '/usr/lib/python3/dist-packages/skimage/data/multipage_rgb.tif';
