// The page around every dashboard page: navigation, who is signed in, sign-out, the bundled script
// and stylesheet. Everything shown goes through Hono's JSX, which escapes text and attribute values,
// so what users and agents wrote (prompts, output, names) is always shown as text.
import type { Child, FC } from 'hono/jsx';
import { CSRF_FIELD } from './session.js';

export const NAV = [
  { href: '/dashboard', label: 'Fleet' },
  { href: '/dashboard/tasks', label: 'Tasks' },
  { href: '/dashboard/spend', label: 'Spend' },
  { href: '/dashboard/compare', label: 'Compare' },
  { href: '/dashboard/requests', label: 'Spend requests' },
] as const;

export interface PageContext {
  csrf: string;
  who: { name: string; role: string };
}

export const Layout: FC<{
  title: string;
  /** The bundled assets' version, for their URLs. */
  assets: string;
  current?: string;
  /** Who is signed in; without it (signing in, errors) the page has no navigation. */
  page?: PageContext;
  children?: Child;
}> = ({ title, assets, current, page, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <title>{`${title} · autovibe`}</title>
      {/* No icon: without this, browsers ask for /favicon.ico, which the API does not have. */}
      <link rel="icon" href="data:," />
      <link rel="stylesheet" href={`/dashboard/assets/app.css?v=${assets}`} />
      <script defer src={`/dashboard/assets/app.js?v=${assets}`} />
    </head>
    <body>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <span class="brand">autovibe</span>
        {page && (
          <nav aria-label="Dashboard">
            <ul>
              {NAV.map((item) => (
                <li>
                  <a href={item.href} aria-current={item.href === current ? 'page' : undefined}>
                    {item.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
        )}
        {page && (
          <form method="post" action="/dashboard/logout">
            <span class="muted">
              {page.who.name} ({page.who.role}){' '}
            </span>
            <input type="hidden" name={CSRF_FIELD} value={page.csrf} />
            <button type="submit">Sign out</button>
          </form>
        )}
      </header>
      <main id="main">
        <h1>{title}</h1>
        {children}
      </main>
    </body>
  </html>
);

/** A panel whose endpoint this API does not have (yet): said plainly instead of failing the page. */
export const Unavailable: FC<{ what: string; endpoint: string }> = ({ what, endpoint }) => (
  <p class="unavailable" data-unavailable={endpoint}>
    {what} not available: this API has no <code>{endpoint}</code> endpoint.
  </p>
);

/** A chart drawn by the client from its data, with the same figures as a table for screen readers. */
export const Chart: FC<{ id: string; spec: unknown; label: string }> = ({ id, spec, label }) => (
  <figure class="chart" id={id}>
    <figcaption>{label}</figcaption>
    <div role="img" aria-label={label} data-chart={JSON.stringify(spec)} />
  </figure>
);

/**
 * A part of a page the client refreshes from `src` every `seconds` (htmx swaps the answer, which is
 * this same element, in place). Without `seconds` it is final: nothing polls any more.
 */
export const Live: FC<{ id: string; src: string; seconds?: number; label: string; children?: Child }> = ({
  id,
  src,
  seconds,
  label,
  children,
}) => (
  <section
    id={id}
    aria-label={label}
    hx-get={src}
    hx-trigger={seconds ? `every ${seconds}s` : undefined}
    hx-swap="outerHTML"
  >
    {children}
  </section>
);
