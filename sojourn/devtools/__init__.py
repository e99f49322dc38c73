"""Sojourn's command line and what runs a shop on a laptop: the dev stack, the
simulator, the demo shop, the SMTP catcher and the push inbox. The top of the house:
nothing imports it."""
