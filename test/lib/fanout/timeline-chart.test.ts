import { describe, expect, it } from 'vitest';
import { buildTimeline } from '../../../lib/fanout/timeline.ts';
import { renderTimelineChart, timeUnit } from '../../../lib/fanout/timeline-chart.ts';
import { type AttemptRecord, type FanoutTrace, mergeTraces } from '../../../lib/fanout/trace.ts';
import { PNG_WIDTH } from '../../../lib/rates/chart.ts';
import { darkPixels, decodePng, pixelsOfColour } from '../../support/png.ts';

const T0 = 1_800_000_000_000;
// The colours the chart promises in its legend, written out here rather than read from the module.
const SUCCEEDED_BLUE = [0x4c, 0x78, 0xa8] as const;
const FAILED_RED = [0xe4, 0x57, 0x56] as const;

function run(chunks: number, wallMs: number, failLast: boolean): FanoutTrace {
  const tasks = Array.from({ length: chunks }, (_, index) => {
    const submitted = index * 20;
    const returned = wallMs - (chunks - index) * 10;
    const outcome: AttemptRecord['outcome'] = failLast && index === chunks - 1 ? 'failed' : 'succeeded';
    const attempts: AttemptRecord[] = [
      {
        attempt: 1,
        submittedAt: T0 + submitted,
        returnedAt: T0 + returned,
        outcome,
        worker: { startedAt: T0 + submitted + 30, endedAt: T0 + returned - 30, workerId: `w${index}` },
      },
    ];
    return { index, attempts };
  });
  return { backend: 'local:test', startedAt: T0, endedAt: T0 + wallMs, tasks };
}

describe('timeline chart', () => {
  it('draws a PNG with its title, axis titles with units, success bars, and the failed chunk in red', async () => {
    const timeline = buildTimeline(run(4, 3000, true));
    const { svg, png } = await renderTimelineChart({
      timeline,
      title: 'Primes in [0, 1,000,000): 4 chunks on local — wall 3 s, speedup 2.5×',
      subtitle: 'run test-1',
    });
    expect(svg).toContain('Primes in [0, 1,000,000)');
    expect(svg).toContain('time since the run started (s)');
    expect(svg).toContain('workers busy');
    expect(svg).toContain('chunk 4');
    const img = decodePng(png);
    expect(img.width).toBe(PNG_WIDTH);
    // Text in the title band: with no font found, resvg would draw none.
    expect(darkPixels(img, 0, 0, img.width, Math.round(img.height * 0.08))).toBeGreaterThan(500);
    // Three chunks succeeded over most of the run: wide blue bars (the curve's line is the same blue, but thin).
    expect(pixelsOfColour(img, SUCCEEDED_BLUE)).toBeGreaterThan(20_000);
    expect(pixelsOfColour(img, FAILED_RED)).toBeGreaterThan(3_000);
  });

  it('draws no red when every chunk succeeded, and uses milliseconds for a short run', async () => {
    const timeline = buildTimeline(run(3, 900, false));
    expect(timeUnit(timeline.wallMs)).toEqual({ divisor: 1, unit: 'ms' });
    const { svg, png } = await renderTimelineChart({ timeline, title: 'a short run' });
    expect(svg).toContain('time since the run started (ms)');
    // The legend's swatch for "failed" is there whatever happened (about 200 px); a failed bar would be thousands.
    expect(pixelsOfColour(decodePng(png), FAILED_RED)).toBeLessThan(400);
  });

  it('keeps the PNG within bounds for thousands of chunks', async () => {
    const { png } = await renderTimelineChart({ timeline: buildTimeline(run(2000, 60_000, false)), title: 'big' });
    const img = decodePng(png);
    expect(img.width).toBe(PNG_WIDTH);
    expect(img.height).toBeLessThan(2000);
  });

  it("names a labelled task's row by its label, in the merged order", async () => {
    const merged = mergeTraces([
      { trace: run(2, 1000, false), label: (i) => `parse ${i}` },
      { trace: run(2, 1000, false), label: (i) => `stats r1 ${i}` },
    ]);
    const { svg } = await renderTimelineChart({ timeline: buildTimeline(merged), title: 'phases', taskNoun: 'task' });
    // The axis's tick labels, in the order drawn (aria-labels are attributes, not text elements).
    const rows = [...svg.matchAll(/>((?:parse|stats r1) \d+)<\/text>/g)].map((m) => m[1]);
    expect(rows).toEqual(['parse 0', 'parse 1', 'stats r1 0', 'stats r1 1']);
    expect(svg).not.toContain('task 1<');
  });

  it('refuses a timeline that was not built by buildTimeline', async () => {
    await expect(renderTimelineChart({ timeline: {} as never, title: 'x' })).rejects.toThrow(/buildTimeline/);
  });
});
