"""The tests' Web Push receiver is the dev push inbox (sojourn/pushinbox.py)."""

from sojourn.pushinbox import Browser, Delivery, PushReceiver, b64d, b64e

__all__ = ["Browser", "Delivery", "PushReceiver", "b64d", "b64e"]
