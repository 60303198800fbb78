from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Whitenoise's hashed, compressed static files, with Django's opt-in rewriting of ES module
    imports: the page's `import … from "./lib/api.js";` becomes the hashed name too, so a browser never
    runs one release's app.js with another release's modules out of its cache."""

    support_js_module_import_aggregation = True
