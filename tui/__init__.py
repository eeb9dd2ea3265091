"""The terminal UI: the live leaderboard (Textual). It reads documents through a
DataSource and follows a NoticeFeed (tui/source.py); it imports no service module."""
