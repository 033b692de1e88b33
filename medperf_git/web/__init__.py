"""The web face: a static site of the registry (``site build``) and a local app over the flows (``ui``).

It sits beside ``cli`` (floor 5): it reads and acts only through the flows and the layers below,
and renders with jinja2 templates and assets shipped in this package, so nothing loads from a CDN.
"""
