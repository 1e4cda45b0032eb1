"""Sales of items, and the takedowns and updates they set off."""
