"""IR → IR passes, one per file."""
