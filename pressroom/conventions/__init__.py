"""Site conventions: which generator a source tree is written for (Jekyll, Hugo, Zola, Astro,
Docusaurus, Eleventy, MkDocs, or a plain folder) and what its rules make of each post: the URL
it is published at, its aliases, dates, authors and draft state, and each image's URL.
"""
