"""Fuse several sensors into one 10 m daily pivot representation."""
