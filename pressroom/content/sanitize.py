"""Sanitising a post's rendered HTML: nh3 (the Ammonia binding) under an allowlist for blogs,
and the `HtmlPolicy` that turns it off or names the hosts an iframe may load."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import nh3

from pressroom.config import DEFAULT_IFRAME_HOSTS

__all__ = ["HtmlPolicy", "sanitize_html"]


@dataclass(frozen=True, slots=True)
class HtmlPolicy:
    """How a post's HTML is cleaned: `sanitize` off keeps it verbatim (SANITIZE_HTML=false,
    for trusted single-owner sites); `iframe_hosts` are the hosts an iframe may load."""

    sanitize: bool = True
    iframe_hosts: tuple[str, ...] = DEFAULT_IFRAME_HOSTS


# Ammonia's defaults (formatting, lists, tables, figures, details, code...) plus what the
# renderer and blogs add: footnote sections, task-list checkboxes, video iframes.
_SAFE_TAGS = frozenset(nh3.ALLOWED_TAGS | {"section", "iframe", "input"})
_SAFE_ATTRIBUTES: dict[str, set[str]] = {
    # id: heading anchors and footnotes; class: code highlighting, kramdown's `{: .note}`.
    "*": {"id", "class", "title", "lang", "dir"},
    "a": {"href", "hreflang", "rel", "title"},
    "img": {"src", "alt", "title", "width", "height", "loading", "align"},
    "iframe": {
        "src", "width", "height", "title", "allow", "allowfullscreen", "frameborder",
        "loading", "referrerpolicy",
    },
    "input": {"checked"},
    "ol": {"start", "reversed", "type"},
    "li": {"value"},
    "th": {"style", "colspan", "rowspan", "align", "scope", "headers"},
    "td": {"style", "colspan", "rowspan", "align", "headers"},
    "col": {"span", "align"},
    "colgroup": {"span", "align"},
    "time": {"datetime"},
    "details": {"open"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "abbr": {"title"},
    "bdo": {"dir"},
}  # fmt: skip


def sanitize_html(fragment: str, policy: HtmlPolicy) -> str:
    """`fragment` cleaned under the blog allowlist (nh3, the Ammonia binding).

    Scripts, styles, event handlers, `javascript:` URLs, forms and unknown tags go; what
    blogs use stays (tables with cell alignment, code with its language class, figures,
    images, links with their rel, heading ids, details/summary, footnotes, task lists).
    An iframe keeps its `src` only for an https URL on one of `policy.iframe_hosts`.
    """
    if not policy.sanitize:
        return fragment
    if _IFRAME.search(fragment) is None:
        # No iframe, so no attribute filter: nh3 would call it for every attribute.
        return _cleaner(None).clean(fragment)
    return _cleaner(frozenset(h.lower() for h in policy.iframe_hosts)).clean(fragment)


_IFRAME = re.compile(r"<iframe", re.IGNORECASE)


@lru_cache(maxsize=16)
def _cleaner(iframe_hosts: frozenset[str] | None) -> nh3.Cleaner:
    """The cleaner for HTML with iframes allowed from `iframe_hosts` (None: HTML without an
    iframe), built once: building one compiles the allowlist."""

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if tag == "iframe" and attribute == "src":
            try:
                url = urlsplit(value.strip())
            except ValueError:
                return None
            hosts = iframe_hosts or frozenset()
            return value if url.scheme == "https" and (url.hostname or "") in hosts else None
        return value

    return nh3.Cleaner(
        tags=set(_SAFE_TAGS),
        attributes=_SAFE_ATTRIBUTES,
        attribute_filter=None if iframe_hosts is None else keep,
        # An author's rel (nofollow, me) is kept; nothing here opens a new window.
        link_rel=None,
        # Task-list checkboxes only, never a form field.
        tag_attribute_values={"input": {"type": {"checkbox"}}},
        set_tag_attribute_values={"input": {"disabled": "disabled"}},
        filter_style_properties={"text-align"},
    )
