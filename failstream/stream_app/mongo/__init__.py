"""MongoDB writes of the stream worker: raw failures, counters, dead letters."""
