#!/usr/bin/python3
"""What a file manager's window shows, read through its accessibility tree.

Prints one JSON object: for each window (frame) of the application named
by argv[1], its title, the status bar's first text ("7 items"), the names
of the items in the folder view, and the view's extents on the screen.
Reads only: it sends the application no input and no action.
"""

import json
import sys

import gi

gi.require_version("Atspi", "2.0")
from gi.repository import Atspi, GLib  # noqa: E402

ITEM_ROLES = {"icon"}


def children(node):
    for i in range(node.get_child_count()):
        child = node.get_child_at_index(i)
        if child is not None:
            yield child


def text_of(node):
    name = node.get_name() or ""
    if name:
        return name
    try:
        return Atspi.Text.get_text(node, 0, -1)
    except GLib.Error:
        return ""


def find(node, role):
    if node.get_role_name() == role:
        return node
    for child in children(node):
        hit = find(child, role)
        if hit is not None:
            return hit
    return None


def folder_view(frame):
    """PCManFM's icon view is the window's one layered pane (the side
    pane's places list is a table)."""
    return find(frame, "layered pane")


def extents(node):
    box = node.get_component_iface().get_extents(Atspi.CoordType.SCREEN)
    return [box.x, box.y, box.width, box.height]


def window(frame):
    status = find(frame, "status bar")
    view = folder_view(frame)
    items = []
    if view is not None:
        items = [text_of(c) for c in children(view) if c.get_role_name() in ITEM_ROLES]
    return {
        "title": frame.get_name(),
        "status": text_of(status) if status is not None else None,
        "items": items,
        "view": extents(view) if view is not None else None,
    }


def main():
    app_name = sys.argv[1]
    desktop = Atspi.get_desktop(0)
    windows = []
    for app in children(desktop):
        if app.get_name() != app_name:
            continue
        windows += [window(f) for f in children(app) if f.get_role_name() == "frame"]
    json.dump({"windows": windows}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
