"""Stage 6, answers: the Analyzer every entry point calls, one child's examination, nearest training examples, the live monitor."""
