"""Leads: buyers' conversations, what their messages mean, scores, replies and the inbox."""
