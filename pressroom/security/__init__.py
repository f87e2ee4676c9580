"""Security: the network guard every outbound request goes through (no private, loopback or
metadata addresses unless allowlisted), redaction of credentials in URLs for display, and
sealing of URL credentials so workflow history never shows them."""
