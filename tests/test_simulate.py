"""`sojourn simulate`: Lisa's cart story from a scripted events file, played on the
real journey code in simulated time, printed as her timeline with what she got; a
script that can't be played is refused with where and why."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "docs" / "examples" / "lisa_cart.json"


def simulate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sojourn.devtools.cli", "simulate", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)


def test_it_prints_lisas_timeline() -> None:
    done = simulate("cart_abandonment", "--events", str(EXAMPLE))
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert out.startswith("cart_abandonment for lisa: exited (completed)"), out
    for line in ("+0s  entered on Product Added", "+3d  converted: Order Completed",
                 "audience cart_abandoners: joined", "audience cart_abandoners: left (cart_abandonment: exited)",
                 "email to Lisa <lisa@example.com>: Lisa, your cart is waiting",
                 "web push: Still thinking it over? — Your Velvet Lipstick is waiting in your cart.",
                 "Sends: email_same_day sent, push_1h sent"):
        assert line in out, (line, out)
    # She added the mascara 20 minutes in: she left then, the push an hour later, the email three hours later.
    assert re.search(r"\+1h20m\d*s?  push_1h: push sent \(1/1 subscriptions\)", out), out
    assert re.search(r"\+3h20m\d*s?  email_same_day: email sent", out), out
    assert "Temporal Server" not in out, "the dev server's chatter stays on stderr"


def test_a_script_it_cannot_play_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"events": [{"at": "2d", "event": "A"}, {"at": "1d", "event": "B"}]}))
    done = simulate("cart_abandonment", "--events", str(bad))
    assert done.returncode == 2 and "events[1]: events must be in order of `at`" in done.stderr, done.stderr
    bad.write_text(json.dumps({"events": [{"at": "soon", "event": "A"}]}))
    assert "at` must look like" in simulate("cart_abandonment", "--events", str(bad)).stderr
    assert "no journey 'nope'" in simulate("nope", "--events", str(EXAMPLE)).stderr
