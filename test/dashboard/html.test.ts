import { describe, expect, it } from 'vitest';
import { html } from '../../dashboard/html.ts';
import { errorInWords, historySection } from '../../dashboard/pages/data/view.ts';

describe('html', () => {
  it('escapes every interpolated value, and inserts HTML built with it as it is', () => {
    const name = `<img src=x onerror="alert('x')">&`;
    expect(html`<p title="${name}">${name}</p>`.value).toBe(
      '<p title="&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;">&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;</p>',
    );
    expect(html`<ul>${['a', 'b'].map((item) => html`<li>${item}</li>`)}</ul>`.value).toBe(
      '<ul><li>a</li><li>b</li></ul>',
    );
    expect(html`${null}${undefined}${false}${0}`.value).toBe('0');
  });
});

describe('the Data page view', () => {
  it('lists an upload whose error message holds markup as text', () => {
    const report = {
      status: 'error' as const,
      runId: null,
      input: { bucket: 'b', key: 'uploads/<b>.csv' },
      error: { code: 'MISSING_COLUMN' as const, message: 'no column "<script>"' },
      errorObject: null,
      finishedAt: '2026-12-03T00:00:00.000Z',
    };
    expect(errorInWords(report)).toBe('The run failed (MISSING_COLUMN): no column "<script>"');
    const page = historySection([
      {
        key: 'uploads/<b>.csv',
        bytes: 2048,
        uploadedAt: '2026-12-03T00:00:00.000Z',
        resultPrefix: 'results/<b>/',
        state: 'error',
        outcome: report,
      },
    ]).value;
    expect(page).not.toContain('<script>');
    expect(page).not.toContain('<b>');
    expect(page).toContain('no column &quot;&lt;script&gt;&quot;');
    expect(page).toContain('href="/data?upload=uploads%2F%3Cb%3E.csv"');
  });
});
