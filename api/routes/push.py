"""What a browser needs to subscribe to web push."""

from fastapi import APIRouter

from api.deps import VapidDep

router = APIRouter(prefix="/v1/push", tags=["push"])


@router.get("/vapid-public-key")
async def vapid_public_key(keys: VapidDep) -> dict[str, str]:
    """The applicationServerKey for pushManager.subscribe(). Public by design."""
    return {"publicKey": keys.public_key}
