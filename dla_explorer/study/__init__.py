"""Stage 6, studies: the reference comparison end to end, its analysis, figures and report."""
