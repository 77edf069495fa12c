import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { init, type WrappedPdfiumModule } from '@embedpdf/pdfium';
import { ImagefleetError } from '@imagefleet/core';

/**
 * PDF pages through PDFium compiled to WebAssembly (@embedpdf/pdfium, MIT; PDFium itself is
 * BSD-3-Clause): no system library, no service, no native build. One module per process, loaded
 * on first use; every call is synchronous inside the module, so documents never interleave.
 */

// FPDF_GetLastError codes (fpdfview.h).
const FPDF_ERR_FORMAT = 3;
const FPDF_ERR_PASSWORD = 4;
const FPDF_ERR_SECURITY = 5;
// FPDF_RenderPageBitmap flags: draw annotations; bytes in RGBA order (not PDFium's BGRA).
const FPDF_ANNOT = 0x01;
const FPDF_REVERSE_BYTE_ORDER = 0x10;
const WHITE = 0xffffffff;

export const PDF_MAGIC = '%PDF-';

/** PDFium looks for the header within the first 1,024 bytes, as other readers do. */
export function looksLikePdf(bytes: Uint8Array): boolean {
  return Buffer.from(bytes.subarray(0, 1024)).toString('latin1').includes(PDF_MAGIC);
}

let loading: Promise<WrappedPdfiumModule> | undefined;

function pdfium(): Promise<WrappedPdfiumModule> {
  loading ??= (async () => {
    const wasmPath = createRequire(import.meta.url).resolve('@embedpdf/pdfium/pdfium.wasm');
    const module = await init({ wasmBinary: (await readFile(wasmPath)).buffer as ArrayBuffer });
    module.PDFiumExt_Init();
    return module;
  })();
  return loading;
}

/** The module's memory as bytes; read anew after anything that may grow it (the view is replaced then). */
function heap(module: WrappedPdfiumModule): Uint8Array {
  // HEAPU8 is Emscripten's; the package types it through @types/emscripten, which it does not install.
  return (module.pdfium as unknown as { HEAPU8: Uint8Array }).HEAPU8;
}

function openError(code: number): ImagefleetError {
  if (code === FPDF_ERR_PASSWORD || code === FPDF_ERR_SECURITY) return new ImagefleetError('encrypted_document', 'The PDF is encrypted and needs a password to open');
  const why = code === FPDF_ERR_FORMAT ? 'not a readable PDF' : `PDFium error ${code}`;
  return new ImagefleetError('corrupt_document', `The PDF could not be opened: ${why}`);
}

/** Opens the document, runs `use` and frees everything, whatever `use` does. */
async function withDocument<T>(bytes: Uint8Array, use: (module: WrappedPdfiumModule, document: number) => T): Promise<T> {
  const module = await pdfium();
  const pointer = module.pdfium.wasmExports.malloc(bytes.length);
  if (!pointer) throw new ImagefleetError('too_large', `The PDF (${bytes.length} bytes) does not fit the renderer's memory`);
  try {
    heap(module).set(bytes, pointer);
    const document = module.FPDF_LoadMemDocument(pointer, bytes.length, '');
    if (!document) throw openError(module.FPDF_GetLastError());
    try {
      return use(module, document);
    } finally {
      module.FPDF_CloseDocument(document);
    }
  } finally {
    module.pdfium.wasmExports.free(pointer);
  }
}

/** The number of pages; encrypted (a password needed) and unreadable PDFs throw their codes. */
export function pdfPageCount(bytes: Uint8Array): Promise<number> {
  return withDocument(bytes, (module, document) => module.FPDF_GetPageCount(document));
}

export interface RenderedPage {
  width: number;
  height: number;
  /** RGBA, 4 bytes per pixel, rows without padding. */
  pixels: Buffer;
}

/**
 * Renders one page (0-based) on white so that its longer side is `maxSide` pixels (the task's
 * budget: no pixel is rendered only to be scaled away), and at most `maxPixels` in all.
 */
export function renderPdfPage(bytes: Uint8Array, index: number, maxSide: number, maxPixels: number): Promise<RenderedPage> {
  return withDocument(bytes, (module, document) => {
    const page = module.FPDF_LoadPage(document, index);
    if (!page) throw new ImagefleetError('corrupt_document', `Page ${index + 1} of the PDF could not be loaded`);
    try {
      const pointsWide = module.FPDF_GetPageWidthF(page);
      const pointsHigh = module.FPDF_GetPageHeightF(page);
      if (!(pointsWide > 0 && pointsHigh > 0)) throw new ImagefleetError('corrupt_document', `Page ${index + 1} of the PDF has no size`);
      const scale = Math.min(maxSide / Math.max(pointsWide, pointsHigh), Math.sqrt(maxPixels / (pointsWide * pointsHigh)));
      const width = Math.max(1, Math.round(pointsWide * scale));
      const height = Math.max(1, Math.round(pointsHigh * scale));
      const bitmap = module.FPDFBitmap_Create(width, height, 1);
      if (!bitmap) throw new ImagefleetError('too_many_pixels', `Page ${index + 1} at ${width}x${height} does not fit the renderer's memory`);
      try {
        module.FPDFBitmap_FillRect(bitmap, 0, 0, width, height, WHITE);
        module.FPDF_RenderPageBitmap(bitmap, page, 0, 0, width, height, 0, FPDF_ANNOT | FPDF_REVERSE_BYTE_ORDER);
        const stride = module.FPDFBitmap_GetStride(bitmap);
        const start = module.FPDFBitmap_GetBuffer(bitmap);
        const pixels = Buffer.alloc(width * height * 4);
        const memory = heap(module);
        for (let row = 0; row < height; row++) {
          pixels.set(memory.subarray(start + row * stride, start + row * stride + width * 4), row * width * 4);
        }
        return { width, height, pixels };
      } finally {
        module.FPDFBitmap_Destroy(bitmap);
      }
    } finally {
      module.FPDF_ClosePage(page);
    }
  });
}
