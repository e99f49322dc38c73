"""Identity and consent: which ids are one person (linking), and what she agreed to
receive (consent, suppressions)."""
