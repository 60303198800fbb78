"""Content-Security-Policy (django-csp) on the HTML pages: the buyer's page, the admin, the API docs.

The policy (CONTENT_SECURITY_POLICY in settings) allows scripts, styles and connections from this
origin only: no inline script or style, no eval, no plugins, no framing, no <base> rewriting, forms
posting only here. An injected `<script>` or `onerror=` attribute then does nothing.

Only HTML responses carry it: a JSON body is never rendered as a document (the API sends
`X-Content-Type-Options: nosniff`), and building the header costs ~20 µs a response, which the
waiting-room endpoints polled by crowds need not pay.
"""

from typing import Any

from csp.middleware import CSPMiddleware


class HtmlCSPMiddleware(CSPMiddleware):
    def process_response(self, request: Any, response: Any) -> Any:
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        return super().process_response(request, response)
