"""The founding guide's journeys, one story a file, each written on the kit
(workflows/kit/) and registered in workflows/registry.py."""
