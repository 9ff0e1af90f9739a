"""`make bench`: the project's performance record against the targets of SPEC 12."""
