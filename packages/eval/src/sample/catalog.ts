import { seededRandom } from '@imagefleet/core';

/** A product photo's labelled fields (tagging): category from the default taxonomy, colour, tags. */
export interface ProductFields {
  category: string;
  attributes: { colour: string };
  tags: string[];
}

const COLOURS: Record<string, string> = { red: '#c62828', blue: '#1565c0', green: '#2e7d32', black: '#212121', yellow: '#f9a825', pink: '#ec407a' };

/** Each product: its category, a noun for its tags, and its shape drawn in `fill` around the centre of a 768 px square. */
const PRODUCTS: { category: string; noun: string; shape: (fill: string) => string }[] = [
  {
    category: 'bags',
    noun: 'handbag',
    shape: (fill) => `<path d="M284 300 Q384 150 484 300" fill="none" stroke="${fill}" stroke-width="22"/><rect x="214" y="300" width="340" height="260" rx="30" fill="${fill}"/>`,
  },
  {
    category: 'home/kitchen',
    noun: 'mug',
    shape: (fill) => `<rect x="254" y="240" width="220" height="300" rx="20" fill="${fill}"/><circle cx="500" cy="390" r="70" fill="none" stroke="${fill}" stroke-width="28"/>`,
  },
  {
    category: 'apparel/tops',
    noun: 't-shirt',
    shape: (fill) => `<polygon points="274,200 334,180 434,180 494,200 594,290 534,350 494,320 494,590 274,590 274,320 234,350 174,290" fill="${fill}"/>`,
  },
  {
    category: 'footwear',
    noun: 'sneaker',
    shape: (fill) => `<path d="M170 470 L200 330 Q300 360 380 380 L560 420 Q620 440 610 500 L170 500 Z" fill="${fill}"/><rect x="160" y="500" width="460" height="30" fill="#eeeeee"/>`,
  },
  {
    category: 'jewellery',
    noun: 'ring',
    shape: (fill) => `<circle cx="384" cy="420" r="140" fill="none" stroke="${fill}" stroke-width="36"/><circle cx="384" cy="270" r="36" fill="#b3e5fc"/>`,
  },
  {
    category: 'home/decor',
    noun: 'vase',
    shape: (fill) => `<path d="M334 200 L434 200 L424 260 Q544 360 464 580 L304 580 Q224 360 344 260 Z" fill="${fill}"/>`,
  },
];

/** Fields and SVG of product photo `index`: every product shape in turn, in a colour drawn from the seed. */
export function productSample(index: number, seed: number): { fields: ProductFields; svg: string } {
  const random = seededRandom(seed * 1000 + 500 + index);
  const product = PRODUCTS[index % PRODUCTS.length]!;
  const names = Object.keys(COLOURS);
  const colour = names[Math.floor(random() * names.length)]!;
  const background = ['#f5f5f5', '#fafafa', '#eceff1', '#fff8e1'][Math.floor(random() * 4)]!;
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="768" height="768"><rect width="100%" height="100%" fill="${background}"/><ellipse cx="384" cy="620" rx="260" ry="30" fill="#00000022"/>${product.shape(COLOURS[colour]!)}</svg>`;
  return { fields: { category: product.category, attributes: { colour }, tags: [colour, product.noun] }, svg };
}
