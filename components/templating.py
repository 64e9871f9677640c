"""The one way mlstack renders its Jinja2 templates (Dockerfiles, nginx.conf)."""

from __future__ import annotations

from pathlib import Path

import jinja2


def template_environment(templates_dir: Path) -> jinja2.Environment:
    """Strict: a variable the caller forgot fails the render instead of rendering empty, which
    in a Dockerfile or nginx.conf would be a silent, valid-looking mistake. Not HTML, so no
    autoescaping: templates quote values with their own filters."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - config files and Dockerfiles, not HTML
    )
