"""Input check stage (after heads, before answers): refuse audio of the wrong kind, say how familiar a recording is."""
