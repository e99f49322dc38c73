"""The thin HTTP API: Segment's tracking calls in, operators' and storefronts' routes (api/routes/,
aggregated in api/routes/__init__.py), the dashboard."""
