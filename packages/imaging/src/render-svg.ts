import sharp from 'sharp';

/**
 * Renders an SVG we wrote ourselves (generated samples: text with the system's fonts, shapes) to
 * PNG. Never for untrusted input: it is not sniffed or bounded like prepareImage's input.
 */
export async function renderSvgPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).png().toBuffer();
}

/** The same as a JPEG: a scanned page's bytes (what a PDF of scans holds, /DCTDecode). */
export async function renderSvgJpeg(svg: string, quality = 90): Promise<Buffer> {
  return sharp(Buffer.from(svg)).flatten({ background: '#ffffff' }).jpeg({ quality }).toBuffer();
}
