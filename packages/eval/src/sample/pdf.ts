/**
 * A minimal PDF writer for generated samples: objects in order, a correct cross-reference table.
 * Object 1 must be the document catalog; `trailer` adds entries to the trailer dictionary.
 */
export function pdfFile(objects: (string | Buffer)[], trailer = ''): Buffer {
  const parts: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let length = parts[0]!.length;
  const offsets = objects.map((body, index) => {
    const at = length;
    const object = Buffer.concat([Buffer.from(`${index + 1} 0 obj\n`, 'latin1'), typeof body === 'string' ? Buffer.from(body, 'latin1') : body, Buffer.from('\nendobj\n', 'latin1')]);
    parts.push(object);
    length += object.length;
    return at;
  });
  const xref = `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n \n`).join('')}`;
  parts.push(Buffer.from(`${xref}trailer\n<< /Size ${objects.length + 1} /Root 1 0 R${trailer} >>\nstartxref\n${length}\n%%EOF\n`, 'latin1'));
  return Buffer.concat(parts);
}

/** A stream object: its dictionary entries and its bytes. */
export function pdfStream(dictionary: string, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`<< ${dictionary} /Length ${data.length} >>\nstream\n`, 'latin1'), data, Buffer.from('\nendstream', 'latin1')]);
}

/** A scanned page: a JPEG of width x height pixels drawn over the whole page. */
export interface ScannedPage {
  jpeg: Buffer;
  width: number;
  height: number;
}

/** POINTS_PER_PIXEL maps a page's pixels to points: 0.68 puts a 900 px wide scan on a US-letter-wide page (612 pt). */
const POINTS_PER_PIXEL = 0.68;

/** A PDF of scanned pages (each one DeviceRGB JPEG image, /DCTDecode), as scanners and copiers write them. */
export function scannedPdf(pages: ScannedPage[]): Buffer {
  const objects: (string | Buffer)[] = ['<< /Type /Catalog /Pages 2 0 R >>', ''];
  const kids: number[] = [];
  for (const page of pages) {
    const [width, height] = [page.width * POINTS_PER_PIXEL, page.height * POINTS_PER_PIXEL].map((points) => Math.round(points * 100) / 100);
    const image = objects.push(pdfStream(`/Type /XObject /Subtype /Image /Width ${page.width} /Height ${page.height} /ColorSpace /DeviceRGB /BitsPerComponent 8 /Filter /DCTDecode`, page.jpeg));
    const content = objects.push(pdfStream('', Buffer.from(`q ${width} 0 0 ${height} 0 0 cm /Scan Do Q`, 'latin1')));
    kids.push(objects.push(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 ${width} ${height}] /Resources << /XObject << /Scan ${image} 0 R >> >> /Contents ${content} 0 R >>`));
  }
  objects[1] = `<< /Type /Pages /Kids [${kids.map((kid) => `${kid} 0 R`).join(' ')}] /Count ${kids.length} >>`;
  return pdfFile(objects);
}
