"""Pure-Python decisions, no Beam: each filter annotates a document and keeps it or drops it with a named reason."""
