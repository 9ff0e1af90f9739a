"""Routes by resource; each calls one function in `shared/` and shapes its answer."""
