"""Each journey as a map, derived from its code, never drawn by hand: a static reading
of its `story()` (and the journey's own helpers it calls), drawn on the server as SVG,
with the live numbers of each step.

What the reading knows is the journey kit's vocabulary (workflows/kit/): its waits
(`delay`, `delay_until`, `delay_until_local`, `wait_until_quiet`, `delay_until_date`,
`wait_for`, `wait_for_best_time`), named by their reason, which is also the step a
waiting run shows (its `state`, and the `JourneyStep` search attribute where steps are
searchable); its sends, by step and channel
(the ledger's step); `experiment`, `branch`, `end`, coupons, audiences, recorded events
and the choices made from her data (`best_channel`, `recommend`). An `if` is a branch
with both arms, a `return` or `end` an exit. A reason built at run time (an f-string)
is shown as written, with `{...}` where a value goes.

The numbers come from the journey's stats (sojourn/analytics/report.py: reached, sent and
clicked per send step, entered, exited, converted) and, for each wait, the runs waiting
there now (a count from Temporal's visibility, one per wait: `waiting` below; only
where the shop keeps steps searchable, settings' searchable_steps). An arm of
a branch that no run has reached yet (none of its steps has a number) is drawn dashed:
"not taken yet"."""

from __future__ import annotations

import ast
import inspect
import re
import sys
import textwrap
from dataclasses import dataclass, field
from html import escape
from typing import Any

WAITS = {"delay": 1, "delay_until": 1, "delay_until_local": None, "wait_until_quiet": None,
         "delay_until_date": None, "wait_for": None, "wait_for_best_time": None}  # where `reason` is positional
SENDS = {"send_email": "email", "send_push": "push", "send_webhook": "webhook", "send_onsite": "on-site",
         "send_on": None, "send_preferred": None}
ACTIONS = {"issue_coupon": "coupon", "add_to_audience": "ad audience +", "remove_from_audience": "ad audience -",
           "record_event": "records", "best_channel": "chooses her best channel", "recommend": "recommends",
           "replenish_days": "reads how long it lasts", "in_segment": "checks a segment",
           "wait_for_best_time": None}


@dataclass
class Node:
    kind: str  # entry | wait | send | decision | experiment | branch | action | exit | goal
    label: str
    step: str | None = None  # the ledger's step (a send) or the JourneyStep (a wait)
    channel: str | None = None
    arms: list[tuple[str, list[Node]]] = field(default_factory=list)
    detail: str = ""
    numbers: dict[str, int] = field(default_factory=dict)
    pattern: str | None = None  # a wait's step, as a prefix, when it is built at run time

    def walk(self) -> list[Node]:
        found = [self]
        for _, nodes in self.arms:
            for node in nodes:
                found.extend(node.walk())
        return found


def _text(node: ast.AST | None) -> str:
    """A string literal as it is; an f-string with `{...}` for its values; else the code."""
    if node is None:
        return ""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(str(v.value) if isinstance(v, ast.Constant) else "{...}" for v in node.values)
    return ast.unparse(node)


def _arg(call: ast.Call, position: int | None, keyword: str) -> ast.AST | None:
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if position is not None and len(call.args) > position:
        return call.args[position]
    return None


def _self_call(node: ast.AST) -> tuple[str, ast.Call] | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) \
            and node.func.value.id == "self":
        return node.func.attr, node
    return None


class Reader:
    def __init__(self, journey: type) -> None:
        self.bound: list[dict[str, ast.AST]] = [{}]  # a helper's parameters: the arguments it was called with
        self.methods: dict[str, ast.AsyncFunctionDef | ast.FunctionDef] = {}
        for cls in reversed([c for c in journey.__mro__ if c.__module__ == journey.__module__]):
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
            for item in tree.body[0].body if isinstance(tree.body[0], ast.ClassDef) else []:
                if isinstance(item, (ast.AsyncFunctionDef, ast.FunctionDef)):
                    self.methods[item.name] = item

    def story(self) -> list[Node]:
        return self.block(self.methods["story"].body, ("story",)) if "story" in self.methods else []

    def block(self, body: list[ast.stmt], inside: tuple[str, ...]) -> list[Node]:
        nodes: list[Node] = []
        for stmt in body:
            nodes.extend(self.statement(stmt, inside))
            if nodes and nodes[-1].kind in ("exit", "return"):
                break  # what follows an exit in the same block never runs
        return [n for n in nodes if n.kind != "return"]  # a helper's return ends only the helper

    def statement(self, stmt: ast.stmt, inside: tuple[str, ...]) -> list[Node]:
        if isinstance(stmt, ast.If):
            found = self.calls(stmt.test, inside)
            changed = _self_call(stmt.test)
            label = (f"runs entering from change {_text(changed[1].args[0])!r} on" if changed and changed[0] == "changed"
                     and changed[1].args else _condition(stmt.test))
            then, otherwise = self.block(stmt.body, inside), self.block(stmt.orelse, inside)
            return [*[n for n in found if n.kind != "decision"],
                    Node("decision", label, arms=[("yes", then), ("no", otherwise)])]
        if isinstance(stmt, (ast.For, ast.AsyncFor, ast.While)):
            head = ast.unparse(stmt.iter if not isinstance(stmt, ast.While) else stmt.test)
            return [Node("decision", f"for each of {head}"[:80], arms=[("each", self.block(stmt.body, inside)),
                                                                       ("done", [])])]
        if isinstance(stmt, ast.Return):
            if len(inside) > 1:  # a helper's return: back to the story, which goes on
                return [*self.calls(stmt.value, inside), Node("return", "")]
            return [*self.calls(stmt.value, inside), Node("exit", "ends here")]
        if isinstance(stmt, (ast.Try, ast.With, ast.AsyncWith)):
            return self.block(stmt.body, inside)
        return self.calls(stmt, inside)

    def calls(self, node: ast.AST | None, inside: tuple[str, ...]) -> list[Node]:
        if node is None:
            return []
        nodes: list[Node] = []
        for sub in _in_order(node):
            found = _self_call(sub)
            if found is None:
                continue
            name, call = found
            made = self.call(name, call, inside)
            if made:
                nodes.extend(made)
        return nodes

    def text(self, node: ast.AST | None) -> str:
        if isinstance(node, ast.Name) and node.id in self.bound[-1]:
            return _text(self.bound[-1][node.id])
        return _text(node)

    def inline(self, name: str, call: ast.Call, inside: tuple[str, ...]) -> list[Node]:
        method = self.methods[name]
        params = [a.arg for a in (*method.args.posonlyargs, *method.args.args)][1:]
        bound = {**dict(zip(params, call.args)), **{kw.arg: kw.value for kw in call.keywords if kw.arg}}
        self.bound.append({k: (self.bound[-1].get(v.id, v) if isinstance(v, ast.Name) else v)
                           for k, v in bound.items()})
        try:
            return self.block(method.body, (*inside, name))
        finally:
            self.bound.pop()

    def call(self, name: str, call: ast.Call, inside: tuple[str, ...]) -> list[Node]:
        if name in SENDS:
            channel = SENDS[name]
            step_at = 1 if name == "send_on" else 0
            step = self.text(_arg(call, step_at, "step"))
            if channel is None:
                channel = "her best channel" if name == "send_on" else "her preferred channel"
            template = self.text(_arg(call, None, "template"))
            fallback = self.text(_arg(call, None, "fallback"))
            detail = f"template {template}" + (f", else {fallback}" if fallback else "")
            literal = "{...}" not in step
            return [Node("send", step, step=step if literal else None, channel=channel, detail=detail,
                         pattern=None if literal else step)]
        if name in WAITS and name != "wait_for_best_time":
            reason = _arg(call, WAITS[name], "reason")
            if reason is None and name == "wait_for":
                label = f"waiting for {self.text(call.args[0]) if call.args else '...'}"
            else:
                label = self.text(reason) if reason is not None else name.replace("_", " ")
            within = _arg(call, None, "within") or _arg(call, None, "at_most")
            return [_wait(label, f"at most {_duration(within)}" if within is not None else "")]
        if name == "wait_for_best_time":  # its step names the hour it chose: "best time: ..."
            return [_wait("best time: {...}", "her best time to hear from us")]
        if name == "experiment":
            weights = _arg(call, 1, "weights")
            variants = [self.text(k) for k in weights.keys] if isinstance(weights, ast.Dict) else []
            holdout = _arg(call, None, "holdout")
            detail = ", ".join(variants) + (", holdout (nothing sent)" if holdout is not None else "")
            return [Node("experiment", self.text(call.args[0]) if call.args else "experiment", detail=detail)]
        if name == "branch":
            return [Node("branch", ": ".join(self.text(a) for a in call.args[:2]))]
        if name == "end":
            return [Node("exit", self.text(call.args[0]) if call.args else "ends")]
        if name in ACTIONS and ACTIONS[name]:
            what = self.text(call.args[0]) if call.args and name not in ("best_channel", "replenish_days") else ""
            return [Node("action", f"{ACTIONS[name]} {what}".strip())]
        if isinstance(self.methods.get(name), ast.AsyncFunctionDef) and name not in inside and len(inside) < 6:
            # The journey's own async helper (`the_guides_order`): its steps, in place.
            return self.inline(name, call, inside)
        return []


class _Short(ast.NodeTransformer):
    """A kit call in a condition, by its name and first argument: `wait_for('Product Added')`."""

    def visit_Await(self, node: ast.Await) -> ast.AST:
        return self.visit(node.value)

    def visit_Call(self, node: ast.Call) -> ast.AST:
        found = _self_call(node)
        if found is None:
            return self.generic_visit(node)
        first = f"({_text(node.args[0])!r})" if node.args else "()"
        return ast.Name(id=f"{found[0]}{first}")


def _duration(node: ast.AST) -> str:
    """`timedelta(days=2)` as "2 days"; anything else as written."""
    if isinstance(node, ast.Call) and ast.unparse(node.func) == "timedelta" and len(node.keywords) == 1 \
            and not node.args and isinstance(node.keywords[0].value, ast.Constant):
        unit, value = node.keywords[0].arg or "", node.keywords[0].value.value
        return f"{value!s} {unit[:-1] if value == 1 else unit}"
    return ast.unparse(node)


def _condition(test: ast.AST) -> str:
    text = ast.unparse(_Short().visit(ast.parse(ast.unparse(test), mode="eval").body))
    return text if len(text) <= 70 else text[:67] + "..."


def _wait(label: str, detail: str) -> Node:
    literal = "{...}" not in label
    return Node("wait", label, step=label if literal else None, detail=detail, pattern=None if literal else label)


def _in_order(node: ast.AST) -> list[ast.AST]:
    """Every sub-node, in the order the code reads (ast.walk is breadth-first)."""
    found = [node]
    for child in ast.iter_child_nodes(node):
        found.extend(_in_order(child))
    return found


def read(journey: type, spec: dict[str, Any]) -> list[Node]:
    """The journey's map: who enters, its story, and the goal."""
    entry = " or ".join(_trigger(t) for t in spec.get("entry", [])) or "-"
    only = f"only for {spec['only_for']}" if spec.get("only_for") else "anyone"
    exits = " or ".join(_trigger(t) for t in spec.get("exits", []))
    nodes = [Node("entry", f"enters on {entry}", detail=only + (f"; leaves on {exits}" if exits else ""))]
    nodes.extend(Reader(journey).story())
    goal = spec.get("goal")
    if goal:  # after the story, a run waits for the goal (the kit's last wait)
        nodes.append(Node("goal", f"goal: {goal['event']}", step=f"waiting for {goal['event']}",
                          detail=f"{goal['kpi']}, within {_days(goal['within_seconds'])}"))
        for earlier in _earlier_goals(journey, goal["event"]):
            nodes.append(Node("goal", f"earlier runs' goal: {earlier}", step=f"waiting for {earlier}",
                              detail="runs that started before a change"))
    return nodes


def _earlier_goals(journey: type, current: str) -> list[str]:
    """The goals `run_goal()` gives runs that started before a change (a Goal named in
    the journey's module), besides the declared one."""
    method = Reader(journey).methods.get("run_goal")
    if method is None:
        return []
    module = sys.modules.get(journey.__module__)
    found: list[str] = []
    for node in ast.walk(method):
        if isinstance(node, ast.Name):
            event = getattr(getattr(module, node.id, None), "event", None)
            if isinstance(event, str) and event != current and event not in found:
                found.append(event)
    return found


def _trigger(trigger: dict[str, Any]) -> str:
    if "joins" in trigger or "leaves" in trigger:
        return f"joining {trigger['joins']}" if "joins" in trigger else f"leaving {trigger['leaves']}"
    name = trigger.get("name") or trigger.get("type") or "?"
    props = trigger.get("properties") or {}
    return name + (f" {props}" if props else "") + (" (where ...)" if trigger.get("predicate") else "")


def _days(seconds: float) -> str:
    return f"{seconds / 86400:g} days" if seconds >= 86400 else f"{seconds / 3600:g} hours"


def with_numbers(nodes: list[Node], stats: dict[str, Any], waiting: dict[str, int] | None) -> list[Node]:
    """Put the stats on the steps: sends by step (reached, sent, clicked), entered,
    exited, converted, and the runs waiting at each wait now (None: not counted, where
    steps are not searchable; the waits then show no such number)."""
    funnel = {stage["stage"]: stage for stage in stats.get("funnel", [])}
    for node in [n for top in nodes for n in top.walk()]:
        if node.kind == "entry":
            node.numbers = {"entered": funnel.get("entered", {}).get("count", 0),
                            "exited": funnel.get("exited", {}).get("count", 0),
                            "ended early": funnel.get("ended early", {}).get("count", 0)}
        elif node.kind == "send":
            stages = [stage for name, stage in funnel.items() if stage.get("step") and matches(node, name)]
            node.numbers = {"reached": sum(s.get("count", 0) for s in stages),
                            "sent": sum(s.get("sends", {}).get("sent", 0) for s in stages),
                            "clicked": sum(s.get("clicked", 0) for s in stages)}
        elif node.kind == "wait":
            node.numbers = {} if waiting is None else \
                {"waiting now": sum(n for step, n in waiting.items() if matches(node, step))}
        elif node.kind == "goal":
            node.numbers = {"converted": funnel.get("converted", {}).get("count", 0)}
            if waiting is not None:
                node.numbers["waiting now"] = sum(n for step, n in waiting.items() if matches(node, step))
    return nodes


def steps(nodes: list[Node]) -> list[Node]:
    return [n for top in nodes for n in top.walk() if n.kind in ("send", "wait", "goal")]


def waits(nodes: list[Node]) -> list[str]:
    """Each wait's step (or its pattern), once: what to count runs waiting at."""
    return list(dict.fromkeys(n.step or n.pattern or "" for n in steps(nodes) if n.kind in ("wait", "goal")))


def describe(nodes: list[Node]) -> list[dict[str, Any]]:
    return [{"kind": n.kind, "label": n.label, "step": n.step, "pattern": n.pattern, "channel": n.channel,
             "detail": n.detail, "numbers": n.numbers,
             "arms": [{"arm": label, "nodes": describe(arm)} for label, arm in n.arms]} for n in nodes]


def matches(node: Node, step: str) -> bool:
    """Is `step` (a ledger step, or a JourneyStep a run showed) this node's?"""
    if node.step is not None:
        return node.step == step
    return node.pattern is not None and re.fullmatch(
        ".*".join(re.escape(part) for part in node.label.split("{...}")), step) is not None


# Drawing: boxes top to bottom; a branch's arms side by side.
BOX_W, BOX_H, GAP, PAD = 270, 58, 22, 16
COLOURS = {"entry": "#e8f0fb", "wait": "#fff7e0", "send": "#e9f7ec", "decision": "#f4ecfb", "experiment": "#f4ecfb",
           "branch": "#f4f4f0", "action": "#f4f4f0", "exit": "#fdecec", "goal": "#e6f4f1"}


@dataclass
class _Drawn:
    width: int
    height: int
    parts: list[str]


def _taken(nodes: list[Node]) -> bool | None:
    counted = [sum(n.numbers.values()) for top in nodes for n in top.walk() if n.kind in ("send", "wait")]
    return None if not counted else any(counted)


def _box(node: Node, x: int, y: int, index: int) -> list[str]:
    numbers = " · ".join(f"{k} {v}" for k, v in node.numbers.items())
    lines = [node.label if len(node.label) <= 42 else node.label[:40] + "…",
             (node.channel + (": " if node.detail else "") if node.channel else "") + node.detail, numbers]
    attrs = f'data-kind="{node.kind}" data-index="{index}"'
    if node.step is not None:
        attrs += f' data-step="{escape(node.step)}"'
    for key, value in node.numbers.items():
        attrs += f' data-{key.replace(" ", "-")}="{value}"'
    shape = (f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="{14 if node.kind in ("entry", "goal", "exit") else 4}" '
             f'fill="{COLOURS.get(node.kind, "#fff")}" stroke="#8a8a84"/>')
    bold = ' font-weight="bold"'
    texts = [f'<text x="{x + 8}" y="{y + 17 + 16 * i}" font-size="{12 if i == 0 else 11}"'
             f'{bold if i == 0 else ""}>{escape(line[:52])}</text>'
             for i, line in enumerate(lines) if line]
    return [f'<g class="step" {attrs}><title>{escape(node.label)}</title>{shape}{"".join(texts)}</g>']


def _draw(nodes: list[Node], x: int, y: int, counter: list[int]) -> _Drawn:
    parts: list[str] = []
    height, width = 0, BOX_W
    for node in nodes:
        if height:
            parts.append(f'<line x1="{x + BOX_W // 2}" y1="{y + height - GAP}" x2="{x + BOX_W // 2}" '
                         f'y2="{y + height}" stroke="#8a8a84" marker-end="url(#arrow)"/>')
        counter[0] += 1
        parts.extend(_box(node, x, y + height, counter[0]))
        height += BOX_H
        if node.arms:
            arm_x, tallest = x, 0
            for label, arm in node.arms:
                drawn = _draw(arm, arm_x, y + height + GAP + 14, counter)
                taken = _taken(arm)
                dashed = ' stroke-dasharray="4 3"' if taken is False else ""
                parts.append(f'<line x1="{x + BOX_W // 2}" y1="{y + height}" x2="{arm_x + BOX_W // 2}" '
                             f'y2="{y + height + GAP + 14}" stroke="#8a8a84"{dashed}/>')
                note = " (not taken yet)" if taken is False else ""
                parts.append(f'<text class="arm{" untaken" if note else ""}" x="{arm_x + BOX_W // 2 + 4}" '
                             f'y="{y + height + GAP + 8}" font-size="11" fill="#555">{escape(label + note)}</text>')
                parts.extend(drawn.parts)
                tallest = max(tallest, drawn.height + GAP + 14)
                arm_x += max(drawn.width, BOX_W) + PAD
            width = max(width, arm_x - x - PAD)
            height += tallest
        height += GAP
    return _Drawn(width, height, parts)


def svg(name: str, nodes: list[Node]) -> str:
    drawn = _draw(nodes, PAD, PAD, [0])
    w, h = drawn.width + 2 * PAD, drawn.height + 2 * PAD
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="journey-map" data-journey="{escape(name)}" '
            f'width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="system-ui, sans-serif" role="img" '
            f'aria-label="{escape(name)}: its map">'
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" '
            'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#8a8a84"/></marker></defs>'
            + "".join(drawn.parts) + "</svg>")
