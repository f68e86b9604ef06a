"""One small class per job of the window, around the Qt-free session (see ui/desk.py for how they are wired)."""
