// Generates the bundled sample images in samples/ (committed). Re-run: node scripts/make-samples.mjs
// Synthetic "catalog photos": products as shapes on backgrounds, plus the cases inspect is for:
// a blurred shot, a near-duplicate pair, an EXIF-rotated photo, a transparent PNG, a WebP.
import sharp from 'sharp';
import { mkdirSync, rmSync } from 'node:fs';

const out = new URL('../samples/', import.meta.url).pathname;
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

function product({ bg, fg, shape, label, w = 800, h = 600 }) {
  const body =
    shape === 'shirt'
      ? `<path d="M300 150 L370 120 Q400 160 430 120 L500 150 L560 230 L510 260 L490 230 L490 470 L310 470 L310 230 L290 260 L240 230 Z" fill="${fg}"/>`
      : shape === 'mug'
        ? `<rect x="300" y="200" width="180" height="220" rx="18" fill="${fg}"/><circle cx="505" cy="300" r="55" fill="none" stroke="${fg}" stroke-width="26"/>`
        : shape === 'shoe'
          ? `<path d="M200 380 Q220 260 330 280 L420 330 Q520 340 600 380 L600 420 L200 420 Z" fill="${fg}"/><rect x="200" y="420" width="400" height="22" fill="#222"/>`
          : `<circle cx="400" cy="300" r="150" fill="${fg}"/><circle cx="350" cy="250" r="40" fill="#ffffff55"/>`;
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 800 600">
      <rect width="800" height="600" fill="${bg}"/>${body}
      <text x="40" y="560" font-family="sans-serif" font-size="34" fill="#333">${label}</text></svg>`,
  );
}

const items = [
  ['tshirt-red.jpg', { bg: '#f4f4f4', fg: '#c0392b', shape: 'shirt', label: 'Cotton tee, red' }],
  ['tshirt-navy.jpg', { bg: '#ffffff', fg: '#1f3a5f', shape: 'shirt', label: 'Cotton tee, navy' }],
  ['mug-white.jpg', { bg: '#dfe6e9', fg: '#fdfdfd', shape: 'mug', label: 'Stoneware mug' }],
  ['mug-green.png', { bg: '#fafafa', fg: '#27ae60', shape: 'mug', label: 'Enamel mug, green' }],
  ['sneaker-black.jpg', { bg: '#f0ebe3', fg: '#2d3436', shape: 'shoe', label: 'Running shoe' }],
  ['sneaker-orange.webp', { bg: '#ffffff', fg: '#e67e22', shape: 'shoe', label: 'Trail shoe, orange' }],
  ['ball-blue.jpg', { bg: '#ecf0f1', fg: '#2980b9', shape: 'ball', label: 'Beach ball' }],
];
for (const [name, spec] of items) {
  const image = sharp(product(spec));
  await (name.endsWith('.png') ? image.png() : name.endsWith('.webp') ? image.webp({ quality: 85 }) : image.jpeg({ quality: 85 })).toFile(out + name);
}
const tee = product(items[0][1]);
// A blurred shot of the same product: sharpness drops, the hash stays close.
await sharp(tee).blur(6).jpeg({ quality: 85 }).toFile(out + 'tshirt-red-blurred.jpg');
// A near-duplicate: smaller, brighter, re-encoded.
await sharp(tee).resize(640).modulate({ brightness: 1.08 }).jpeg({ quality: 70 }).toFile(out + 'tshirt-red-resized.jpg');
// A phone photo stored sideways with EXIF orientation 6 (rotate 90 degrees clockwise to view).
await sharp(product(items[4][1])).rotate(-90).jpeg({ quality: 85 }).withMetadata({ orientation: 6 }).toFile(out + 'sneaker-phone-exif.jpg');
// A cut-out with transparency.
await sharp(Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="600" height="600"><circle cx="300" cy="300" r="220" fill="#8e44ad"/></svg>`))
  .png()
  .toFile(out + 'badge-transparent.png');
console.log('samples written to', out);
