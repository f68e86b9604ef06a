"""Qt-free view models shared by the window and tests."""
