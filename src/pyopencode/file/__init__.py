"""The workspace's files: listing, reading, git status and diff, text and name search."""
