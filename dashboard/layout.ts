import { html, type SafeHtml } from './html.ts';
import type { NavEntry } from './routes.ts';

/**
 * The frame every page shares: the document head (our own stylesheet only: the CSP allows nothing else), a skip link,
 * the navigation built from the registered pages, and the page's main content.
 */
export function layout(page: {
  title: string;
  current: string;
  nav: readonly NavEntry[];
  body: SafeHtml;
  scripts?: readonly string[];
  /** Seconds after which the page reloads itself (a run still going), without any script. */
  refreshSeconds?: number;
}): SafeHtml {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
${page.refreshSeconds === undefined ? '' : html`<meta http-equiv="refresh" content="${page.refreshSeconds}">`}
<title>${page.title} · cloud-parallel</title>
<link rel="stylesheet" href="/static/dashboard.css">
${(page.scripts ?? []).map((src) => html`<script type="module" src="${src}"></script>`)}
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header>
<p class="brand">cloud-parallel</p>
<nav aria-label="Pages"><ul>
${page.nav.map(
  (entry) =>
    html`<li><a href="${entry.path}"${entry.path === page.current ? html` aria-current="page"` : ''}>${entry.title}</a></li>`,
)}
</ul></nav>
</header>
<main id="main" tabindex="-1">
${page.body}
</main>
</body>
</html>
`;
}
