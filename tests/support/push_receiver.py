"""The tests' Web Push receiver is the dev push inbox (sojourn/devtools/pushinbox.py)."""

from sojourn.devtools.pushinbox import Browser, Delivery, PushReceiver, b64d, b64e

__all__ = ["Browser", "Delivery", "PushReceiver", "b64d", "b64e"]
