"""The dashboard: a static page (`index.html`, `app.js`, `app.css`, shipped as package data) that
`recsys serve` answers at /dashboard, and what its read-only views compute (`overview`).

The page is plain HTML with vanilla JavaScript and CSS: no build step and nothing loaded from elsewhere,
so it works on a server with no outside network, under a Content-Security-Policy that allows only its
own files. It reads the same `/v1` API as any client, with the same key (kept in the tab's
sessionStorage), plus the two `/v1/dashboard/*` views below.
"""
