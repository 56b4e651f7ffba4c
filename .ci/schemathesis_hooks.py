"""Schemathesis hooks for Mailplane's CI.

`message/rfc822` bodies (message import) are not a format Schemathesis generates on its
own: this draws well-formed messages, messages without the headers RFC 5322 requires, and
arbitrary bytes, so the import is exercised on its success and refusal paths.
"""

from hypothesis import strategies as st

import schemathesis

_valid = st.builds(
    lambda subject, body: (
        "From: Migration <old@old-host.example>\r\n"
        "Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n"
        f"Subject: {subject}\r\n\r\n{body}\r\n"
    ).encode(),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
    st.text(max_size=200),
)

schemathesis.openapi.media_type(
    "message/rfc822",
    st.one_of(_valid, st.binary(max_size=512), st.just(b"From: a@b.example\r\n\r\nno date")),
)
