"""What the shortcodes and template calls of each site generator expand to. The template
pre-pass (content.template_syntax) finds them in a post body and passes their name and
arguments here:

- Hugo `{{< name args >}}` / `{{% name args %}}` (`hugo_shortcode`): `ref`/`relref` become the
  path they name, `highlight` a code fence, the image shortcodes (`figure`, `img`, `imgproc`,
  `image`...) an image; any other shortcode vanishes (a paired one keeps its inner text).
- Zola `{{ name(key=value, ...) }}` and `{% name(...) %}body{% end %}` (`zola_shortcode`):
  `image`, `resize_image`, `figure`... an image; others vanish, a body shortcode keeps its body.
  `resize_image`'s path is read as Zola searches it (project root, `static/`, `content/`...).
- Jekyll `{% include image.html url="..." %}` (`jekyll_include`): an include whose file name
  says image, img, figure, picture or photo becomes an image; other includes vanish.
- The Go website's own template functions (the go.dev blog, `go_call`): `{{image "x.jpg" 850}}`
  an image, `{{raw "s"}}` and ``{{raw `s`}}`` their string (the site runs its templates before
  Markdown, so inside code blocks too), `{{code ...}}`, `{{play ...}}`, `{{video ...}}` and
  `{{raw (file ...)}}` nothing: they pull in files and players that are not Markdown.

An image is written as `<img src alt title>`, which content.extract reads like any other
image (an ImageRef resolved against the post), followed by its visible caption as text. src
comes from the first of src, url, image, path, file; alt from alt, else caption, description,
title (so the media index and image search have words for it); the caption from caption,
else description.
"""

from __future__ import annotations

import html
import re

__all__ = [
    "GO_FUNCTIONS",
    "go_call",
    "hugo_shortcode",
    "image_html",
    "jekyll_include",
    "zola_shortcode",
]

IMAGE_SHORTCODES = frozenset({"figure", "img", "image", "imgproc", "picture", "photo"})
_ZOLA_IMAGES = IMAGE_SHORTCODES | {"resize_image"}
_JEKYLL_IMAGE_INCLUDE = re.compile(r"image|img|figure|picture|photo", re.IGNORECASE)
# The go.dev site's template functions that its blog calls with arguments.
GO_FUNCTIONS = ("raw", "image", "code", "play", "video")

_SRC_KEYS = ("src", "url", "image", "path", "file")
_ALT_KEYS = ("alt", "caption", "description", "title")
_CAPTION_KEYS = ("caption", "description")

# Hugo and Liquid include parameters: key="v", key='v', key=`v` (Hugo), key=variable, or bare.
_SHORTCODE_ARG = re.compile(
    r"""(?:([\w-]+)[ \t]*=[ \t]*)?(?:"([^"]*)"|'([^']*)'|`([^`]*)`|([^\s"'`=]+))"""
)
# Tera keyword arguments: key="v", key='v', key=`v`, or a bare number, boolean or name.
_ZOLA_ARG = re.compile(
    r"""([A-Za-z_]\w*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|`([^`]*)`|([^,\s)]+))"""
)
_GO_STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"|`([^`]*)`')
_GO_ESCAPE = re.compile(r"\\(.)")
_GO_ESCAPES = {"n": "\n", "t": "\t", "r": "\r"}
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:|^//")


def image_html(named: dict[str, str], src: str = "") -> str:
    """`<img>` (and caption text) for an image shortcode's named arguments; "" without a
    source. `src`, when given, is the source the call names by position."""
    src = next((named[k] for k in _SRC_KEYS if named.get(k)), src)
    if not src:
        return ""
    alt = next((named[k] for k in _ALT_KEYS if named.get(k)), "")
    attrs = f' src="{html.escape(src)}"' + (f' alt="{html.escape(alt)}"' if alt else "")
    if named.get("title"):
        attrs += f' title="{html.escape(named["title"])}"'
    caption = next((named[k] for k in _CAPTION_KEYS if named.get(k)), "")
    return f"<img{attrs}>" + (f" {html.escape(caption)}" if caption else "")


def _shortcode_args(args: str) -> tuple[dict[str, str], list[str]]:
    named: dict[str, str] = {}
    positional: list[str] = []
    for key, dq, sq, bq, bare in _SHORTCODE_ARG.findall(args):
        value = dq or sq or bq or bare
        if key:
            named[key.lower()] = value
        else:
            positional.append(value)
    return named, positional


def hugo_shortcode(name: str, args: str, closing: bool) -> str:
    """What `{{< name args >}}` (or its closing `{{< /name >}}`) leaves in the Markdown."""
    name = name.lower()
    if closing:
        return "```" if name == "highlight" else ""
    named, positional = _shortcode_args(args.rstrip("/ \t\n"))
    if name in ("ref", "relref"):
        return named.get("path") or (positional[0] if positional else "")
    if name == "highlight":
        return "```" + (positional[0] if positional else "")
    if name in IMAGE_SHORTCODES:
        # `{{< imgproc "sunset.jpg" Resize "300x" >}}`: a file named first, by position.
        first = positional[0] if positional and "." in positional[0] else ""
        return image_html(named, first)
    return ""


def zola_shortcode(name: str, args: str) -> str:
    """What Zola's `{{ name(args) }}` (or the opening of `{% name(args) %}`) leaves."""
    name = name.lower()
    if name not in _ZOLA_IMAGES:
        return ""
    named = {
        key.lower(): (dq and _GO_ESCAPE.sub(r"\1", dq)) or sq or bq or bare
        for key, dq, sq, bq, bare in _ZOLA_ARG.findall(args)
    }
    path = named.get("path", "")
    if name == "resize_image" and path and not _SCHEME.match(path):
        # Zola looks for it from the project root (then static/, content/...), not beside the
        # page: as a root-relative source the resolver searches the same folders.
        named["path"] = path if path.startswith(("/", "./", "../")) else "/" + path
    return image_html(named)


def jekyll_include(args: str) -> str:
    """An image include (`{% include image.html url="a.png" description="A" %}`) as an
    image; "" for any other include."""
    file, _, params = args.strip().partition(" ")
    stem = file.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    if not _JEKYLL_IMAGE_INCLUDE.search(stem):
        return ""
    named, _ = _shortcode_args(params)
    return image_html(named)


def go_call(name: str, args: str, *, in_code: bool = False) -> str | None:
    """What a go.dev template call leaves; None inside code for a call that the text keeps
    as written (only `raw` with a string is run there: an example is code, not a call)."""
    first = _GO_STRING.match(args.lstrip())
    if name == "raw" and first is not None:
        return _go_string(first)
    if in_code:
        return None
    if name == "image" and first is not None:
        return image_html({}, _go_string(first))
    return ""


def _go_string(match: re.Match[str]) -> str:
    if match.group(2) is not None:  # a raw string: no escapes
        return match.group(2)
    return _GO_ESCAPE.sub(lambda m: _GO_ESCAPES.get(m[1], m[1]), match.group(1))
