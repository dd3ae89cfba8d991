"""Tracked data: pointer files and the verbs add, status, checkout, remove, move, gc, fsck, unprotect."""
