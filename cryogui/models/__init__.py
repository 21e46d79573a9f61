"""Qt-free application state: the session, picks with undo history, run state, settings."""
