"""Stage 6, answers: the Analyzer every entry point calls, the event timeline, nearest training examples, the live monitor."""
