/**
 * The Runs page's HTML (dashboard/pages/runs/view.ts) from hand-written summaries: the figures a person reads, the
 * timeline's alt text, an incomplete or unreadable run said in words, and every value escaped.
 */
import { describe, expect, it } from 'vitest';
import type { PrimesRunSummary } from '../../lib/primes/run-record.ts';
import {
  formatCost,
  formatDuration,
  runDetail,
  runsSection,
  startForm,
  timelineAlt,
} from '../../dashboard/pages/runs/view.ts';

const summary: PrimesRunSummary = {
  runId: '20261203T120000Z-0123456789ab',
  startedAt: '2026-12-03T12:00:00.000Z',
  start: 100_000_000,
  end: 101_000_000,
  backend: 'lambda',
  count: 54_208,
  complete: true,
  chunks: 4,
  failedChunks: 0,
  attempts: 4,
  coldStarts: 4,
  maxBusy: 4,
  wallMs: 1234.5,
  workerMs: 980,
  speedup: 0.79,
  cost: {
    backend: 'lambda',
    requests: 4,
    gbSeconds: 1.693,
    usd: 0.000029,
    pricing: { usdPerGbSecond: 0.0000166667, usdPerMillionRequests: 0.2, workerMemoryMb: 1769 },
  },
};

describe('figures', () => {
  it('durations in ms below a second, in seconds with 2 decimals above', () => {
    expect(formatDuration(980)).toBe('980 ms');
    expect(formatDuration(1234.5)).toBe('1.23 s');
  });

  it('costs per backend, and none for local threads', () => {
    expect(formatCost(summary.cost)).toBe('≈ $0.000029 (4 requests, 1.693 GB-s)');
    expect(
      formatCost({
        backend: 'ec2',
        instanceType: 'c7i.large',
        instances: 2,
        instanceSeconds: 50,
        billedSeconds: 120,
        usdPerHour: 0.08925,
        usd: 0.002975,
      }),
    ).toBe('≈ $0.002975 (2 × c7i.large, billed 120 s)');
    expect(formatCost(null)).toBe('none (local threads)');
  });

  it('the timeline’s alt text says what the chart shows', () => {
    expect(timelineAlt(summary)).toBe(
      'Timeline of primes run 20261203T120000Z-0123456789ab: 4 chunks of [100,000,000, 101,000,000) on lambda, one ' +
        'bar per chunk from its start to its end over 1.23 s of wall time, with the number of workers busy beneath ' +
        '(at most 4); 54,208 primes, speedup 0.79×, 0 failed chunks.',
    );
  });
});

describe('runDetail', () => {
  it('shows the count, the timeline from the dashboard with its alt text, the exact figures and the files', () => {
    const page = runDetail({ runId: summary.runId, summary }).value;
    expect(page).toContain('<strong id="run-count">54,208</strong>');
    expect(page).toContain(
      '<img id="timeline" src="/runs/files?run=20261203T120000Z-0123456789ab&amp;file=timeline.png" alt="Timeline of primes run',
    );
    expect(page).toContain('<data data-figure="wallMs" value="1234.5">1.23 s</data>');
    expect(page).toContain('<data data-figure="count" value="54208">54,208</data>');
    for (const file of ['timeline.png', 'timeline.svg', 'timeline.json', 'summary.json'])
      expect(page).toContain(`file=${file}">${file}</a>`);
  });

  it('says an incomplete run is incomplete, and how many chunks failed', () => {
    const page = runDetail({ runId: summary.runId, summary: { ...summary, complete: false, failedChunks: 1 } }).value;
    expect(page).toContain('INCOMPLETE');
    expect(page).toContain('1 of 4 chunks failed');
  });

  it('shows an unreadable summary as its problem, escaped', () => {
    const page = runDetail({ runId: 'x', problem: 'count: expected number, got <b>' }).value;
    expect(page).toContain('This run cannot be shown: count: expected number, got &lt;b&gt;');
    expect(page).not.toContain('<img');
  });
});

describe('runsSection and startForm', () => {
  it('lists runs with range, backend, chunks, count, wall time, speedup and cost; says when there are none', () => {
    const list = runsSection([
      { runId: summary.runId, summary },
      { runId: 'bad', problem: 'not JSON' },
    ]).value;
    expect(list).toContain('The latest 2 fan-out runs, newest first');
    expect(list).toContain('<td>[100,000,000, 101,000,000)</td><td>lambda</td><td>4</td>');
    expect(list).toContain('54,208</td>\n<td>1.23 s</td><td>0.79×</td><td>≈ $0.000029 (4 requests, 1.693 GB-s)</td>');
    expect(list).toContain('<a href="/runs?run=bad#run">bad</a></td><td colspan="7" class="error">not JSON</td>');
    expect(runsSection([]).value).toContain('No runs yet');
  });

  it('a read-only dashboard has no form, and says why', () => {
    expect(startForm(true).value).toContain('<form id="start-form"');
    expect(startForm(false).value).not.toContain('<form');
    expect(startForm(false).value).toContain('Starting runs is off');
  });
});
