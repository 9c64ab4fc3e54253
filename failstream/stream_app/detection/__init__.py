"""Detection logic that imports no Faust: counting, windows, episodes, rules."""
