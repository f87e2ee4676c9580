"""Content: what a source tree says. Pure functions over bytes and paths, no I/O beyond
reading the files given.

A post goes `frontmatter` (YAML, TOML, JSON) -> `template_syntax` (Liquid, Hugo shortcodes)
-> `render` (markdown-it with `kramdown` attribute lists; `extract` collects text, links and
images, `sections` cuts the text under anchored headings) -> `sanitize` (nh3) -> `posts`
(ids, conventions, the `Post`; `fields` reads front matter keys, `caps` bounds the short
fields). `paths` resolves image sources and keeps one file per id; `media` indexes images
(type, dimensions, references); `thumbnails` makes their previews.
"""
