"""What @segment/analytics-next fetches before it sends anything: its source's settings.

A shop loads analytics.js with `cdnURL` pointing here instead of Segment's CDN; the
answer tells the SDK to send its events to this API (`apiHost` from `public_url`)
and to load nothing else: no device-mode destinations, no remote plugins or
middleware, no metrics posted to Segment. The write key in the path is public (it
ships in the page); an unknown one is a 404, as on Segment's CDN.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, status

from api.deps import SettingsDep, one_of
from sojourn.ground.settings import Settings

router = APIRouter(tags=["tracking"])


def cdn_settings(write_key: str, settings: Settings) -> dict[str, Any]:
    public = urlsplit(settings.public_url)
    return {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": f"{public.netloc}{public.path.rstrip('/')}/v1",
                "protocol": public.scheme,
                "unbundledIntegrations": [],
                "addBundledMetadata": False,
                "maybeBundledConfigIds": {},
                "versionSettings": {"version": "4.4.7", "componentTypes": ["browser"]},
            },
        },
        "plan": {"track": {"__default": {"enabled": True, "integrations": {}}},
                 "identify": {"__default": {"enabled": True}}, "group": {"__default": {"enabled": True}}},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }


@router.get("/v1/projects/{write_key}/settings", summary="analytics.js source settings (its cdnURL)")
async def source_settings(write_key: str, settings: SettingsDep) -> dict[str, Any]:
    if not one_of(write_key, settings.write_keys):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no source has this write key")
    return cdn_settings(write_key, settings)
