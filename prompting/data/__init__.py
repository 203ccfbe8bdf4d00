"""Image folders, safe zip uploads and the built-in example photos."""
