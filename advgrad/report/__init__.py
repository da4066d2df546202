"""tables.md, metrics.json, headline.md and the figures, from the runs; the paper's numbers and the protocol."""
