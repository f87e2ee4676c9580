"""Sanitising a post's rendered HTML: nh3 (the Ammonia binding) under an allowlist for blogs,
and the `HtmlPolicy` that turns it off or names the hosts an iframe may load."""

from __future__ import annotations

from dataclasses import dataclass
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
    hosts = frozenset(h.lower() for h in policy.iframe_hosts)

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if tag == "iframe" and attribute == "src":
            try:
                url = urlsplit(value.strip())
            except ValueError:
                return None
            return value if url.scheme == "https" and (url.hostname or "") in hosts else None
        return value

    return nh3.clean(
        fragment,
        tags=set(_SAFE_TAGS),
        attributes=_SAFE_ATTRIBUTES,
        attribute_filter=keep,
        # An author's rel (nofollow, me) is kept; nothing here opens a new window.
        link_rel=None,
        # Task-list checkboxes only, never a form field.
        tag_attribute_values={"input": {"type": {"checkbox"}}},
        set_tag_attribute_values={"input": {"disabled": "disabled"}},
        filter_style_properties={"text-align"},
    )
