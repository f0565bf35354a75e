import { PNG } from 'pngjs';

export interface DecodedPng {
  width: number;
  height: number;
  /** RGBA, row-major. */
  pixels: Buffer;
}

/** Decodes with pngjs, an independent PNG implementation, so a malformed file from the renderer fails here. */
export function decodePng(png: Buffer): DecodedPng {
  const { width, height, data } = PNG.sync.read(png);
  return { width, height, pixels: data };
}

/** Dark pixels in a box: text drawn in a band shows up here, an empty band (no font found) does not. */
export function darkPixels(img: DecodedPng, x0: number, y0: number, x1: number, y1: number): number {
  let n = 0;
  for (let y = y0; y < Math.min(y1, img.height); y++) {
    for (let x = x0; x < Math.min(x1, img.width); x++) {
      const i = (y * img.width + x) * 4;
      const r = img.pixels[i] ?? 255;
      const g = img.pixels[i + 1] ?? 255;
      const b = img.pixels[i + 2] ?? 255;
      if (r < 120 && g < 120 && b < 120) n++;
    }
  }
  return n;
}

/** Pixels within `tolerance` (per channel) of an RGB colour in a box (default the whole image): bars of that colour. */
export function pixelsOfColour(
  img: DecodedPng,
  [r, g, b]: readonly [number, number, number],
  tolerance = 12,
  box: { x0: number; y0: number; x1: number; y1: number } = { x0: 0, y0: 0, x1: img.width, y1: img.height },
): number {
  let n = 0;
  for (let y = box.y0; y < Math.min(box.y1, img.height); y++) {
    for (let x = box.x0; x < Math.min(box.x1, img.width); x++) {
      const i = (y * img.width + x) * 4;
      const near = (v: number | undefined, want: number) => Math.abs((v ?? -999) - want) <= tolerance;
      if (near(img.pixels[i], r) && near(img.pixels[i + 1], g) && near(img.pixels[i + 2], b)) n++;
    }
  }
  return n;
}
