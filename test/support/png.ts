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
